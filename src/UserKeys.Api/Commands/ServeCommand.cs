using Microsoft.Extensions.Options;
using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Commands;

/// <summary><c>UserKeys.Api [serve] [--urls URL]</c>: the HTTP API. It does not migrate: that is the pipeline's step.</summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(CommandLine commandLine)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = commandLine.ConfigurationArgs,
            // appsettings.json sits beside the assembly, wherever the process was started from.
            ContentRootPath = AppContext.BaseDirectory,
        });
        // Say what is wrong, one line per setting, before the host would crash or log a stack trace about it.
        var problems = ServiceOptions.Problems(builder.Configuration).ToList();
        if (DatabaseConfiguration.GetConnectionString(builder.Configuration, out var configurationError) is null)
        {
            problems.Add(configurationError!);
        }

        if (DatabaseConfiguration.ReadListen(builder.Configuration) is { } listen && DatabaseConfiguration.Check(listen) is { } listenError)
        {
            problems.Add($"ConnectionStrings:{DatabaseConfiguration.ListenConnectionStringName}: {listenError}");
        }

        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                await Console.Error.WriteLineAsync($"serve: invalid configuration: {problem}").ConfigureAwait(false);
            }

            return ExitCodes.Usage;
        }

        ConsoleSetup.LogToConsole(builder.Logging);
        builder.AddUserKeysApi();
        var app = builder.Build();
        try
        {
            // Mapping the endpoints resolves services, and with them options validated on first use (the pooler's
            // rule about prepared statements): a failure there is a configuration problem like one found at start.
            app.UseUserKeysApi();
            await app.RunAsync().ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (OptionsValidationException invalid)
        {
            await Console.Error.WriteLineAsync($"serve: invalid configuration: {string.Join("; ", invalid.Failures)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (InvalidOperationException refused) when (refused.Message.Contains("schema is newer", StringComparison.Ordinal))
        {
            await Console.Error.WriteLineAsync($"serve: {refused.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
    }
}
