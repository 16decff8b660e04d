using Dapper;
using DbUp.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using UserKeys.Data.Migrations;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

/// <summary>Applied scripts are immutable; scripts that cannot run in a transaction are supported, visibly.</summary>
public sealed class MigrationGuardTests
{
    private static DatabaseUpgrader Upgrader(TestDatabase database, IReadOnlyList<SqlScript>? scripts = null) =>
        new(database.ConnectionString, NullLogger.Instance) { Scripts = scripts ?? DatabaseUpgrader.EmbeddedScripts() };

    private static async Task<Dictionary<string, byte[]>> Recorded(TestDatabase database)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<(string Name, byte[] Sha)>(TestSql.Get("recorded_checksums"))).ToDictionary(row => row.Name, row => row.Sha);
    }

    [Fact]
    public async Task Every_applied_script_has_its_sha256_recorded()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();

        Assert.True((await Upgrader(database).UpgradeAsync(CancellationToken.None)).Successful);

        var recorded = await Recorded(database);
        Assert.Equal(DatabaseUpgrader.EmbeddedScripts().Select(script => script.Name), recorded.Keys);
        Assert.All(DatabaseUpgrader.EmbeddedScripts(), script => Assert.Equal(DatabaseUpgrader.Checksum(script), recorded[script.Name]));
    }

    [Fact]
    public async Task An_applied_script_whose_content_changed_is_refused_by_name_until_a_deliberate_repair()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        Assert.True((await Upgrader(database).UpgradeAsync(CancellationToken.None)).Successful);
        var embedded = DatabaseUpgrader.EmbeddedScripts();
        var edited = embedded.Select(script => script.Name == embedded[0].Name
                ? new SqlScript(script.Name, script.Contents + "\n-- an edit after release\n")
                : script)
            .Append(new SqlScript("9001_next.sql", TestSql.Get("migration_never_reached")))
            .ToList();

        var refused = await Upgrader(database, edited).UpgradeAsync(CancellationToken.None);

        Assert.True(refused.Refused);
        Assert.Contains(embedded[0].Name, refused.Error);
        Assert.Empty(refused.Applied);
        Assert.Equal([embedded[0].Name], (await Upgrader(database, edited).GetStatusAsync(CancellationToken.None)).Changed);

        var repaired = await Upgrader(database, edited).UpgradeAsync(CancellationToken.None, repairChecksums: true);

        Assert.True(repaired.Successful, repaired.Error);
        Assert.Equal(["9001_next.sql"], repaired.Applied);
        Assert.Equal(DatabaseUpgrader.Checksum(edited[0]), (await Recorded(database))[embedded[0].Name]);
        Assert.Empty((await Upgrader(database, edited).GetStatusAsync(CancellationToken.None)).Changed);
    }

    [Fact]
    public async Task Scripts_applied_before_checksums_existed_are_recorded_on_the_next_run()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        Assert.True((await Upgrader(database).UpgradeAsync(CancellationToken.None)).Successful);
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("delete_checksums"));
        }

        var again = await Upgrader(database).UpgradeAsync(CancellationToken.None);

        Assert.True(again.Successful);
        Assert.Equal(DatabaseUpgrader.EmbeddedScripts().Count, (await Recorded(database)).Count);
    }

    [Fact]
    public async Task A_marked_script_runs_outside_a_transaction_and_an_unmarked_one_cannot()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var marked = new SqlScript("9001_concurrent_index.sql", TestSql.Get("migration_concurrent_index"));
        var unmarked = new SqlScript("9001_concurrent_index.sql", TestSql.Get("migration_concurrent_index_unmarked"));
        Assert.True(DatabaseUpgrader.RunsOutsideTransaction(marked));
        Assert.False(DatabaseUpgrader.RunsOutsideTransaction(unmarked));

        var failed = await Upgrader(database, [.. DatabaseUpgrader.EmbeddedScripts(), unmarked]).UpgradeAsync(CancellationToken.None);
        Assert.Equal("9001_concurrent_index.sql", failed.FailedScript);
        Assert.Contains("25001", failed.Error); // CREATE INDEX CONCURRENTLY cannot run inside a transaction block

        var scripts = DatabaseUpgrader.EmbeddedScripts().Append(marked)
            .Append(new SqlScript("9002_after.sql", TestSql.Get("migration_never_reached"))).ToList();
        var result = await Upgrader(database, scripts).UpgradeAsync(CancellationToken.None);

        Assert.True(result.Successful, result.Error);
        Assert.Equal(["9001_concurrent_index.sql", "9002_after.sql"], result.Applied);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.True(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "users_name_test_idx" }));
        Assert.Contains("9001_concurrent_index.sql", (await Recorded(database)).Keys);
    }

    [Fact]
    public async Task The_review_script_holds_exactly_the_pending_scripts_in_order_and_runs_nothing()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var scripts = DatabaseUpgrader.EmbeddedScripts();
        Assert.True((await Upgrader(database, [scripts[0]]).UpgradeAsync(CancellationToken.None)).Successful);
        var marked = new SqlScript("9001_concurrent_index.sql", TestSql.Get("migration_concurrent_index"));
        var writer = new StringWriter();

        var pending = await Upgrader(database, [.. scripts, marked]).WriteScriptAsync(writer, CancellationToken.None);

        var text = writer.ToString();
        Assert.Equal([.. scripts.Skip(1).Select(script => script.Name), marked.Name], pending);
        Assert.DoesNotContain(scripts[0].Contents.Trim(), text);
        var positions = pending.Select(name => text.IndexOf($"==== {name}", StringComparison.Ordinal)).ToList();
        Assert.All(positions, position => Assert.True(position > 0));
        Assert.Equal(positions.Order(), positions);
        Assert.All(scripts.Skip(1), script => Assert.Contains(script.Contents.TrimEnd(), text));
        Assert.Contains("9001_concurrent_index.sql (outside any transaction)", text);
        Assert.Equal([scripts[0].Name], await Upgrader(database).GetAppliedScriptsAsync(CancellationToken.None));
    }
}
