using Dapper;
using Npgsql;
using UserKeys.Data.Migrations;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary><c>UserKeys.Api migrate</c> as the deploy pipeline sees it: exit codes and output.</summary>
public sealed class MigrateCommandTests
{
    private static readonly string[] Embedded = [.. DatabaseUpgrader.EmbeddedScripts().Select(script => script.Name)];


    [Fact]
    public async Task Migrate_applies_every_script_prints_each_and_exits_0_then_finds_nothing_to_do()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();

        var dryRun = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--dry-run");
        var first = await CliProcess.RunAsync(database.ConnectionString, "migrate");
        var second = await CliProcess.RunAsync(database.ConnectionString, "migrate");
        var dryRunAfter = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--dry-run");

        Assert.Equal(0, dryRun.ExitCode);
        Assert.All(Embedded, name => Assert.Contains($"pending {name}", dryRun.StandardOutput));
        Assert.Equal(0, first.ExitCode);
        Assert.All(Embedded, name => Assert.Contains($"applied {name}", first.StandardOutput));
        Assert.Equal(0, second.ExitCode);
        Assert.DoesNotContain("applied 0", second.StandardOutput);
        Assert.Contains("nothing to apply", second.StandardOutput);
        Assert.Equal(0, dryRunAfter.ExitCode);
        Assert.DoesNotContain("pending", dryRunAfter.StandardOutput);
        Assert.Equal(Embedded, await database.JournalAsync());
    }

    [Fact]
    public async Task Dry_run_changes_nothing()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();

        var result = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--dry-run");

        Assert.Equal(0, result.ExitCode);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        Assert.False(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "schemaversions" }));
        Assert.False(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "users" }));
    }

    [Fact]
    public async Task Two_pipelines_migrating_at_once_both_exit_0_and_each_script_is_applied_once()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();

        using var one = CliProcess.Start(database.ConnectionString, "migrate");
        using var two = CliProcess.Start(database.ConnectionString, "migrate");
        var results = await Task.WhenAll(CliProcess.WaitAsync(one), CliProcess.WaitAsync(two));

        Assert.All(results, result => Assert.True(result.ExitCode == 0, result.StandardError));
        foreach (var name in Embedded)
        {
            Assert.Equal(1, results.Count(result => result.StandardOutput.Contains($"applied {name}", StringComparison.Ordinal)));
        }

        Assert.Equal(Embedded, await database.JournalAsync());
    }

    [Fact]
    public async Task A_failing_script_exits_1_naming_the_script_and_postgres_message_and_is_not_journaled()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        // A table already named like the one 0002 creates makes that script fail half way through
        // the migration run (0001 succeeds).
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.WithIdentifiers("create_table", ("table", "api_keys")));
        }

        var result = await CliProcess.RunAsync(database.ConnectionString, "migrate");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("0002_create_api_keys.sql", result.StandardError);
        Assert.Contains("42P07", result.StandardError);
        Assert.Contains("applied 0001_create_users.sql", result.StandardOutput);
        Assert.Equal(["0001_create_users.sql"], await database.JournalAsync());
    }

    [Fact]
    public async Task No_connection_string_exits_2_and_says_what_to_set()
    {
        var result = await CliProcess.RunAsync(null, "migrate");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("ConnectionStrings__UserKeys", result.StandardError);
        Assert.Empty(result.StandardOutput);
    }

    [Fact]
    public async Task An_unreachable_database_exits_3()
    {
        var unreachable = new NpgsqlConnectionStringBuilder(await PostgresServer.GetAdminConnectionStringAsync()) { Port = 1, Timeout = 3 };

        var result = await CliProcess.RunAsync(unreachable.ConnectionString, "migrate");

        Assert.Equal(3, result.ExitCode);
        Assert.DoesNotContain(unreachable.Password!, result.StandardError + result.StandardOutput);
    }

    [Fact]
    public async Task The_connection_flag_wins_over_the_environment()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var unreachable = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Port = 1, Timeout = 3 }.ConnectionString;

        var result = await CliProcess.RunAsync(unreachable, "migrate", "--connection", database.ConnectionString);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Embedded, await database.JournalAsync());
    }

    [Fact]
    public async Task An_unknown_verb_exits_2_with_usage()
    {
        var result = await CliProcess.RunAsync(null, "migrat");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Usage:", result.StandardError);
    }
}

/// <summary>A deploy pipeline's upgrader killed (SIGKILL) in the middle of a script.</summary>
public sealed class KilledUpgraderTests
{
    [Fact]
    public async Task An_upgrader_killed_mid_script_leaves_the_journal_consistent_and_the_next_run_completes()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var scripts = DatabaseUpgrader.EmbeddedScripts();
        // The first script applied; the second (it references users) will wait on a lock we hold.
        var first = await new DatabaseUpgrader(database.ConnectionString, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
        {
            Scripts = [scripts[0]],
        }.UpgradeAsync(CancellationToken.None);
        Assert.True(first.Successful);

        await using var blocker = await database.DataSource.OpenConnectionAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await blocker.ExecuteAsync(TestSql.Get("lock_users_table"), transaction: hold);

        using var upgrader = CliProcess.Start(database.ConnectionString, "migrate");
        await using (var watch = await database.DataSource.OpenConnectionAsync())
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await watch.ExecuteScalarAsync<long>(TestSql.Get("count_backends_waiting_on_lock")) == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the upgrader never reached the blocked script");
                await Task.Delay(50);
            }
        }

        upgrader.Kill(entireProcessTree: true); // SIGKILL: no clean-up of any kind
        await upgrader.WaitForExitAsync();
        await hold.RollbackAsync();

        // The killed run's script rolled back with its dead session; the journal has only what committed.
        var journal = await database.JournalAsync();
        Assert.Equal([scripts[0].Name], journal);

        var next = await CliProcess.RunAsync(database.ConnectionString, "migrate");
        Assert.True(next.ExitCode == 0, next.StandardError);
        Assert.Equal(scripts.Select(script => script.Name), await database.JournalAsync());
    }

}

/// <summary>What the deploy pipeline sees of the migration guards.</summary>
public sealed class MigrateGuardCommandTests
{
    [Fact]
    public async Task Status_lists_applied_with_time_and_pending_and_a_changed_script_makes_migrate_exit_4()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var scripts = DatabaseUpgrader.EmbeddedScripts();

        var before = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--status");
        Assert.Equal(0, before.ExitCode);
        Assert.All(scripts, script => Assert.Contains($"pending {script.Name}", before.StandardOutput));

        Assert.Equal(0, (await CliProcess.RunAsync(database.ConnectionString, "migrate")).ExitCode);
        var after = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--status");
        Assert.Equal(0, after.ExitCode);
        Assert.All(scripts, script => Assert.Matches($@"applied {System.Text.RegularExpressions.Regex.Escape(script.Name)} at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ", after.StandardOutput));
        Assert.DoesNotContain(after.StandardOutput.Split('\n'), line => line.StartsWith("pending", StringComparison.Ordinal));

        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("tamper_checksum"), new { name = scripts[1].Name });
        }

        var refused = await CliProcess.RunAsync(database.ConnectionString, "migrate");
        Assert.Equal(4, refused.ExitCode);
        Assert.Contains(scripts[1].Name, refused.StandardError);
        Assert.Contains("--repair-checksums", refused.StandardError);
        var status = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--status");
        Assert.Equal(4, status.ExitCode);
        Assert.Contains($"applied {scripts[1].Name}", status.StandardOutput);
        Assert.Contains("CHANGED", status.StandardOutput);

        var repaired = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--repair-checksums");
        Assert.Equal(0, repaired.ExitCode);
        Assert.Equal(0, (await CliProcess.RunAsync(database.ConnectionString, "migrate", "--status")).ExitCode);
    }

    [Fact]
    public async Task Script_writes_the_pending_sql_to_a_file_and_touches_nothing()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var file = Path.Combine(Path.GetTempPath(), $"userkeys-review-{Guid.NewGuid():N}.sql");
        try
        {
            var result = await CliProcess.RunAsync(database.ConnectionString, "migrate", "--script", file);

            Assert.Equal(0, result.ExitCode);
            var text = await File.ReadAllTextAsync(file);
            Assert.All(DatabaseUpgrader.EmbeddedScripts(), script => Assert.Contains(script.Contents.TrimEnd(), text));
            await using var connection = await database.DataSource.OpenConnectionAsync();
            Assert.False(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "schemaversions" }));
            Assert.False(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "schemachecksums" }));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
