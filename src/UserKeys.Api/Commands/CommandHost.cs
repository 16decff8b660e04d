using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Commands;

/// <summary>
/// What the one-shot verbs share: configuration (appsettings.json beside the executable, environment,
/// command line), logs on stderr, and the validated connection string.
/// </summary>
internal sealed class CommandHost(IHost host, string connectionString, ILogger logger) : IDisposable
{
    public string ConnectionString { get; } = connectionString;

    public ILogger Logger { get; } = logger;

    public IConfiguration Configuration => host.Services.GetRequiredService<IConfiguration>();

    /// <summary>The host for <paramref name="verb"/>, or null after telling stderr what configuration is missing.</summary>
    public static async Task<CommandHost?> CreateAsync(CommandLine commandLine, string verb, string loggerCategory)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = commandLine.ConfigurationArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        ConsoleSetup.LogToStandardError(builder.Logging);
        var connectionString = DatabaseConfiguration.GetConnectionString(builder.Configuration, out var configurationError);
        if (connectionString is null)
        {
            await Console.Error.WriteLineAsync($"{verb}: {configurationError}").ConfigureAwait(false);
            return null;
        }

        // Migrations and the bootstrap write: given a primary and its standbys, they connect to the primary, whichever
        // host of the list that is (unless the connection string says otherwise).
        var target = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (DataServices.IsMultiHost(target) && target.TargetSessionAttributes is null)
        {
            target.TargetSessionAttributes = "primary";
            connectionString = target.ConnectionString;
        }

        var host = builder.Build();
        return new CommandHost(host, connectionString, host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(loggerCategory));
    }

    public void Dispose() => host.Dispose();
}
