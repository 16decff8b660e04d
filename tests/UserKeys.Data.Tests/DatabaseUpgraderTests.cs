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

    /// <summary>
    /// Every migration after a table's creation leaves its rows where they are: no rewrite of a live users or api_keys
    /// (a rewrite holds ACCESS EXCLUSIVE for as long as it copies the table). Rows written before the key governance
    /// columns read with their defaults.
    /// </summary>
    [Fact]
    public async Task Later_migrations_never_rewrite_users_or_api_keys()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var embedded = DatabaseUpgrader.EmbeddedScripts();
        var firstKeyScript = embedded.Select((script, index) => (script, index)).First(pair => pair.script.Name.StartsWith("0002_", StringComparison.Ordinal)).index;
        await Upgrader(database, [.. embedded.Take(firstKeyScript + 1)]).UpgradeAsync(CancellationToken.None);
        await using var connection = await database.DataSource.OpenConnectionAsync();
        var before = (await connection.QueryAsync<(string Name, long File)>(TestSql.Get("table_storage"))).ToList();
        var governance = embedded.Select((script, index) => (script, index)).First(pair => pair.script.Name.StartsWith("0008_", StringComparison.Ordinal)).index;
        await Upgrader(database, [.. embedded.Take(governance)]).UpgradeAsync(CancellationToken.None);
        await connection.ExecuteAsync(TestSql.Get("seed_key_before_governance"));

        var result = await Upgrader(database).UpgradeAsync(CancellationToken.None);

        Assert.True(result.Successful, result.Error);
        var after = (await connection.QueryAsync<(string Name, long File)>(TestSql.Get("table_storage"))).ToList();
        Assert.Equal(2, before.Count);
        Assert.Equal(before, after);
        var old = await connection.QuerySingleAsync<(bool Enabled, int PermissionCount, bool NoMeta, bool NotRolled)>(TestSql.Get("key_governance_defaults"));
        Assert.Equal((true, 0, true, true), old);
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

    [Fact]
    public async Task A_script_waiting_for_a_lock_gives_up_without_stalling_readers_and_is_tried_again()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        Assert.True((await Upgrader(database).UpgradeAsync(CancellationToken.None)).Successful);

        // A long reader holds api_keys: ALTER TABLE needs ACCESS EXCLUSIVE and must wait for it.
        await using var reader = await database.DataSource.OpenConnectionAsync();
        var hold = await reader.BeginTransactionAsync();
        await reader.ExecuteScalarAsync<long>(TestSql.Get("hold_key_rows"), transaction: hold);

        var log = new LineLogger();
        var upgrader = new DatabaseUpgrader(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString, log)
        {
            Scripts = [.. DatabaseUpgrader.EmbeddedScripts(), new SqlScript("9001_add_key_column.sql", TestSql.Get("migration_add_key_column"))],
            LockTimeout = TimeSpan.FromMilliseconds(300),
            LockRetryDelay = TimeSpan.FromMilliseconds(200),
            LockAttempts = 20,
        };
        var upgrade = upgrader.UpgradeAsync(CancellationToken.None);

        // While the migration waits and retries, other sessions still read the table: a waiting DDL
        // queues every later lock request behind it, so without lock_timeout these reads would hang.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var reads = 0;
        var slowest = TimeSpan.Zero;
        while (!log.Lines.Any(line => line.Contains("trying it again", StringComparison.Ordinal)) || reads < 10)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no retry logged; lines: {string.Join(" | ", log.Lines)}");
            await using var other = await database.DataSource.OpenConnectionAsync();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await other.ExecuteScalarAsync<long>(TestSql.Get("hold_key_rows"));
            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
            reads++;
        }

        Assert.False(upgrade.IsCompleted, "the migration finished while the lock was held");
        Assert.True(slowest < TimeSpan.FromSeconds(1.5), $"a read waited {slowest.TotalMilliseconds:0} ms behind the migration");
        Assert.Contains(log.Lines, line => line.Contains("9001_add_key_column.sql", StringComparison.Ordinal) && line.Contains("lock_timeout (300 ms)", StringComparison.Ordinal));

        // The reader finishes: the next attempt gets its lock and the upgrade completes.
        await hold.RollbackAsync();
        await hold.DisposeAsync();
        var result = await upgrade;
        Assert.True(result.Successful, result.Error);
        Assert.Equal(["9001_add_key_column.sql"], result.Applied);
        await using var check = await database.DataSource.OpenConnectionAsync();
        Assert.True(await check.ExecuteScalarAsync<bool>(TestSql.Get("column_exists"), new { table = "api_keys", column = "lock_test_note" }));
        Console.WriteLine($"upgrader: {reads} reads while the migration waited, slowest {slowest.TotalMilliseconds:0} ms; {log.Lines.Count(line => line.Contains("trying it again", StringComparison.Ordinal))} retries logged");
    }

    [Fact]
    public async Task A_script_that_never_gets_its_lock_fails_naming_it_after_its_attempts()
    {
        await using var database = await PostgresServer.CreateEmptyDatabaseAsync();
        Assert.True((await Upgrader(database).UpgradeAsync(CancellationToken.None)).Successful);
        await using var reader = await database.DataSource.OpenConnectionAsync();
        await using var hold = await reader.BeginTransactionAsync();
        await reader.ExecuteScalarAsync<long>(TestSql.Get("hold_key_rows"), transaction: hold);

        var log = new LineLogger();
        var result = await new DatabaseUpgrader(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString, log)
        {
            Scripts = [.. DatabaseUpgrader.EmbeddedScripts(), new SqlScript("9001_add_key_column.sql", TestSql.Get("migration_add_key_column"))],
            LockTimeout = TimeSpan.FromMilliseconds(100),
            LockRetryDelay = TimeSpan.FromMilliseconds(50),
            LockAttempts = 3,
        }.UpgradeAsync(CancellationToken.None);

        Assert.False(result.Successful);
        Assert.Equal("9001_add_key_column.sql", result.FailedScript);
        Assert.Contains("55P03", result.Error);
        Assert.Equal(2, log.Lines.Count(line => line.Contains("trying it again", StringComparison.Ordinal)));
    }

    /// <summary>The upgrader's log lines, formatted.</summary>
    private sealed class LineLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => [.. _lines];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter) => _lines.Enqueue(formatter(state, exception));
    }
}
