using System.Diagnostics;
using System.Net;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using UserKeys.Data.Migrations;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

public sealed class HealthTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task Healthz_and_readyz_are_200_on_a_current_schema()
    {
        using var client = api.Client();
        Assert.Equal("ok", (await (await client.GetAsync("/healthz")).Expect(HttpStatusCode.OK)).Str("status"));
        Assert.Equal("ready", (await (await client.GetAsync("/readyz")).Expect(HttpStatusCode.OK)).Str("status"));
    }
}

/// <summary>A service started on a database nobody migrated yet.</summary>
public sealed class UnmigratedApiFactory : ApiFactory
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => PostgresServer.CreateEmptyDatabaseAsync();
}

public sealed class PendingMigrationTests(UnmigratedApiFactory api) : IClassFixture<UnmigratedApiFactory>
{
    [Fact]
    public async Task Readyz_is_503_naming_the_pending_scripts_until_migrate_runs_and_serving_never_migrates()
    {
        using var client = api.Client();

        await (await client.GetAsync("/healthz")).Expect(HttpStatusCode.OK);
        var pending = await (await client.GetAsync("/readyz")).Expect(HttpStatusCode.ServiceUnavailable);
        Assert.Contains("0001_create_users.sql", pending.Str("detail"));
        Assert.Contains(api.Logs.Lines, line => line.Contains("Migrations are pending", StringComparison.Ordinal));

        var result = await new DatabaseUpgrader(api.Database.ConnectionString, NullLogger.Instance).UpgradeAsync(CancellationToken.None);
        Assert.True(result.Successful);

        // The answer is at most a second old (one check a second, however many probes).
        var (status, _) = await Testing.Poll.UntilAsync(async () => (await client.GetAsync("/readyz")).StatusCode, code => code == HttpStatusCode.OK,
            TimeSpan.FromSeconds(3));
        Assert.Equal(HttpStatusCode.OK, status);
    }
}

public sealed class SchemaRefusalTests
{
    [Fact]
    public async Task A_database_newer_than_the_code_is_refused_at_start()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("insert_journal_entry"), new { name = "9999_from_the_future.sql" });
        }

        // As the deploy pipeline sees it: the process refuses to serve and says why.
        var result = await CliProcess.RunAsync(database.ConnectionString, "--urls", "http://127.0.0.1:0");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("9999_from_the_future.sql", result.StandardError);
        Assert.Contains("newer than this build", result.StandardError);
    }
}

/// <summary>The service pointed at a port where no database listens.</summary>
public sealed class UnreachableDatabaseTests
{
    [Fact]
    public async Task Readyz_and_every_api_call_answer_503_problems_quickly()
    {
        await using var factory = new UnreachableFactory();
        using var client = factory.Client("uk_" + new string('a', 49));
        using var anonymous = factory.Client();

        var clock = Stopwatch.StartNew();
        await (await anonymous.GetAsync("/readyz")).Expect(HttpStatusCode.ServiceUnavailable);
        var verify = await anonymous.PostJson("/v1/keys/verify", new { token = Auth.ApiToken.Generate().Token });
        await verify.Expect(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("1", verify.Headers.RetryAfter?.ToString());
        using var authenticated = factory.Client(Auth.ApiToken.Generate().Token);
        await (await authenticated.GetAsync("/v1/users/me")).Expect(HttpStatusCode.ServiceUnavailable);
        await (await anonymous.GetAsync("/healthz")).Expect(HttpStatusCode.OK);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    private sealed class UnreachableFactory : ApiFactory
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => throw new NotSupportedException();

        protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
        {
            builder.UseSetting("ConnectionStrings:UserKeys", "Host=127.0.0.1;Port=1;Username=nobody;Password=x;Database=none;Timeout=2");
        }
    }
}
