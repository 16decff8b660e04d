using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserKeys.Api.Commands;
using UserKeys.Data;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// The service over HTTP (in memory), on a migrated database of its own, with an admin bootstrapped by
/// the command's own code and every log line captured (to prove no token is ever logged).
/// </summary>
public class ApiFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("not initialised");

    public LogCapture Logs { get; } = new();

    public string AdminToken { get; private set; } = "";

    /// <summary>Every token any test of this class was ever given, for the leak checks.</summary>
    public ConcurrentBag<string> IssuedTokens { get; } = [];

    protected virtual Task<TestDatabase> CreateDatabaseAsync() => PostgresServer.CreateMigratedDatabaseAsync();

    public virtual async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        if (await IsMigratedAsync())
        {
            AdminToken = await BootstrapAdminCommand.IssueAsync(
                new UnitOfWorkFactory(Database.DataSource), $"admin-{Guid.NewGuid():N}@example.com", "Admin", NullLogger.Instance, CancellationToken.None)
                ?? throw new InvalidOperationException("bootstrap issued no token");
            IssuedTokens.Add(AdminToken);
        }
    }

    private async Task<bool> IsMigratedAsync()
    {
        await using var connection = await Database.DataSource.OpenConnectionAsync();
        return (await Data.Migrations.SchemaStatus.ReadAsync(connection, CancellationToken.None)).IsCurrent;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        // The service runs as the restricted role (rows, never the schema), as a deployment runs it: every contract test
        // runs through it. The tests' own SQL runs as the owner (Database.DataSource).
        builder.UseSetting("ConnectionStrings:UserKeys", Database.ServiceConnectionString);
        // Every test class shares one client address (the in-memory host has none): the limits stay on,
        // but high enough that only the tests about them (RateLimitTests) reach them.
        builder.UseSetting("UserKeys:RateLimits:FailuresPerAddressPerSecond", "100000");
        builder.UseSetting("UserKeys:RateLimits:PerKeyPerSecond", "100000");
        ConfigureSettings(builder);
        builder.ConfigureLogging(logging =>
        {
            // Everything, at every level, into the capture (searched for tokens); nothing to the console.
            logging.ClearProviders();
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddFilter(_ => true);
            logging.AddProvider(Logs);
        });
        builder.ConfigureServices(ConfigureTestServices);
    }

    /// <summary>Cleans up what outlives the test database (server-wide things such as roles).</summary>
    protected virtual Task AfterDatabaseDroppedAsync() => Task.CompletedTask;

    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }

    /// <summary>Settings a test class changes (after the defaults above, so they win).</summary>
    protected virtual void ConfigureSettings(IWebHostBuilder builder)
    {
    }

    /// <summary>A client that sends <paramref name="token"/> as its bearer token (none when null).</summary>
    public HttpClient Client(string? token = null)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public HttpClient Admin() => Client(AdminToken);

    /// <summary>The tokens of <see cref="IssuedTokens"/> that appear in the captured logs (there must be none).</summary>
    public IReadOnlyList<string> LeakedTokens() =>
        IssuedTokens.Where(token => Logs.Lines.Any(line => line.Contains(token, StringComparison.Ordinal))).ToList();

    async Task IAsyncLifetime.DisposeAsync()
    {
        await DisposeAsync();
        // Every test class's whole run: no token it was ever given reached a log line.
        var leaked = LeakedTokens();
        if (leaked.Count > 0)
        {
            throw new InvalidOperationException($"{leaked.Count} issued token(s) appear in the logs of {GetType().Name}; first prefix {leaked[0][..11]}");
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
            await AfterDatabaseDroppedAsync();
        }
    }
}

/// <summary>Keeps every formatted log line (message and exception) of the test host.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            lines.Enqueue($"{category} scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var structured = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(pair => $"{pair.Key}={pair.Value}")) : "";
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {structured} {exception}");
        }
    }
}
