using UserKeys.Api.Health;
using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Commands;

/// <summary><c>UserKeys.Api [serve] [--urls URL]</c>: the HTTP API.</summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(CommandLine commandLine)
    {
        var builder = WebApplication.CreateBuilder(commandLine.ConfigurationArgs);
        var connectionString = DatabaseConfiguration.GetConnectionString(builder.Configuration, out var configurationError);
        if (connectionString is null)
        {
            await Console.Error.WriteLineAsync($"serve: {configurationError}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        builder.Services.AddUserKeysData(connectionString);
        var app = builder.Build();
        app.MapHealth();
        await app.RunAsync().ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
