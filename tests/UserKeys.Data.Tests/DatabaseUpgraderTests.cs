using Dapper;
using DbUp.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using UserKeys.Data.Migrations;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

/// <summary>The upgrader against empty databases, one per test.</summary>
public sealed class DatabaseUpgraderTests
{
    private static readonly string[] Embedded = [.. DatabaseUpgrader.EmbeddedScripts().Select(script => script.Name)];

    private static DatabaseUpgrader Upgrader(TestDatabase database, IReadOnlyList<SqlScript>? scripts = null, StringWriter? output = null) =>
        new(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString, NullLogger.Instance)
        {
            Scripts = scripts ?? DatabaseUpgrader.EmbeddedScripts(),
            Output = output ?? new StringWriter(),
        };


    private static async Task<bool> Exists(TestDatabase database, string relation)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = relation });
    }

    [Fact]
    public void The_embedded_scripts_are_zero_padded_and_in_order()
    {
        Assert.NotEmpty(Embedded);
        Assert.All(Embedded, name => Assert.Matches(@"^\d{4}_[a-z0-9_]+\.sql$", name));
        Assert.Equal(Embedded.Order(StringComparer.Ordinal), Embedded);
        var onDisk = Directory.EnumerateFiles(RepositoryFiles.Path("sql", "migrations"), "*.sql")
            .Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(onDisk, Embedded);
    }

    [Fact]
    public async Task A_fresh_database_gets_every_script_once_and_a_second_run_applies_nothing()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var output = new StringWriter();

        var first = await Upgrader(database, output: output).UpgradeAsync(CancellationToken.None);
        var second = await Upgrader(database).UpgradeAsync(CancellationToken.None);

        Assert.True(first.Successful);
        Assert.Equal(Embedded, first.Applied);
        Assert.Equal(Embedded.Select(name => $"applied {name}"), output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.True(second.Successful);
        Assert.Empty(second.Applied);
        Assert.Equal(Embedded, await database.JournalAsync());
        Assert.True(await Exists(database, "users"));
        Assert.True(await Exists(database, "api_keys"));
    }

    [Fact]
    public async Task Pending_lists_what_would_run_and_changes_nothing()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();

        var pending = await Upgrader(database).GetPendingScriptsAsync(CancellationToken.None);

        Assert.Equal(Embedded, pending);
        Assert.False(await Exists(database, "schemaversions"));
        Assert.False(await Exists(database, "users"));

        await Upgrader(database).UpgradeAsync(CancellationToken.None);
        Assert.Empty(await Upgrader(database).GetPendingScriptsAsync(CancellationToken.None));
        Assert.Equal(Embedded, await Upgrader(database).GetAppliedScriptsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_failing_script_is_named_rolled_back_and_not_journaled()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var scripts = DatabaseUpgrader.EmbeddedScripts()
            .Append(new SqlScript("9001_half_done.sql", TestSql.Get("migration_half_done")))
            .Append(new SqlScript("9002_never_reached.sql", TestSql.Get("migration_never_reached")))
            .ToList();

        var result = await Upgrader(database, scripts).UpgradeAsync(CancellationToken.None);

        Assert.False(result.Successful);
        Assert.Equal("9001_half_done.sql", result.FailedScript);
        Assert.Contains("42P01", result.Error);
        Assert.Contains("no_such_table", result.Error);
        Assert.Equal(Embedded, result.Applied);
        Assert.Equal(Embedded, await database.JournalAsync());
        Assert.False(await Exists(database, "half_done"));
        Assert.False(await Exists(database, "never_reached"));
    }

    [Fact]
    public async Task Two_upgraders_at_once_both_succeed_and_apply_every_script_exactly_once()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        // A slow first script makes the two runs overlap for certain.
        var scripts = DatabaseUpgrader.EmbeddedScripts()
            .Prepend(new SqlScript("0000_slow.sql", TestSql.Get("migration_slow")))
            .ToList();

        var results = await Task.WhenAll(
            Task.Run(() => Upgrader(database, scripts).UpgradeAsync(CancellationToken.None)),
            Task.Run(() => Upgrader(database, scripts).UpgradeAsync(CancellationToken.None)));

        Assert.All(results, result => Assert.True(result.Successful, result.Error));
        var expected = scripts.Select(script => script.Name).ToList();
        Assert.Equal(expected, results.SelectMany(result => result.Applied).Order(StringComparer.Ordinal));
        Assert.Contains(results, result => result.Applied.Count == 0);
        Assert.Equal(expected, await database.JournalAsync());
    }
}
