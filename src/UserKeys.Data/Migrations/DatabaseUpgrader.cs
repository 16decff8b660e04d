using System.Data;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using DbUp;
using DbUp.Engine;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Migrations;

/// <summary>What one run of the upgrader did.</summary>
/// <param name="Applied">The scripts applied by this run, in order (empty when the schema was current).</param>
/// <param name="FailedScript">The script that failed, rolled back and not journaled; null on success.</param>
/// <param name="Error">PostgreSQL's message for the failure, or why the run was refused; null on success.</param>
/// <param name="Refused">True when nothing ran because applied scripts changed or the database is newer than this build.</param>
public sealed record UpgradeResult(IReadOnlyList<string> Applied, string? FailedScript, string? Error, bool Refused = false)
{
    public bool Successful => FailedScript is null && Error is null && !Refused;
}

/// <summary>An applied script, as DbUp's journal records it.</summary>
public sealed record AppliedScript(string Name, DateTime AppliedAt);

/// <summary>The database's migrations against this build's scripts.</summary>
/// <param name="Changed">Applied scripts whose content differs from what was applied (by SHA-256).</param>
/// <param name="Unknown">Applied scripts this build does not carry: the database is newer than the code.</param>
public sealed record MigrationStatus(
    IReadOnlyList<AppliedScript> Applied, IReadOnlyList<string> Pending, IReadOnlyList<string> Changed, IReadOnlyList<string> Unknown);

/// <summary>
/// Applies the DbUp scripts of <c>sql/migrations</c> (embedded in this assembly), journaled in
/// <c>public.schemaversions</c>, one transaction per script unless the script carries the
/// <see cref="NoTransactionMarker"/>. Beside DbUp's journal it keeps the SHA-256 of every applied script
/// (<c>public.schemachecksums</c>, written in the script's own transaction) and refuses to run when an
/// applied script has changed since, naming it, unless asked to repair. DbUp does nothing about two
/// upgraders running at once (DbUp/DbUp#358, #841), so every upgrade holds a PostgreSQL session
/// advisory lock on a connection of its own: a second upgrader waits, then finds nothing left to do.
/// </summary>
public sealed class DatabaseUpgrader(string connectionString, ILogger logger)
{
    /// <summary>The advisory lock key: "UserKeys" in ASCII, so a DBA can recognise it in pg_locks.</summary>
    public const long LockKey = 0x5573_6572_4B65_7973;

    public const string JournalSchema = "public";
    public const string JournalTable = "schemaversions";

    /// <summary>
    /// A script whose first lines include this comment runs outside any transaction (for statements such
    /// as <c>CREATE INDEX CONCURRENTLY</c>). It must hold one statement and be safe to run again.
    /// </summary>
    public const string NoTransactionMarker = "-- userkeys:no-transaction";

    private const string ResourcePrefix = "migrations/";

    private static readonly Lazy<IReadOnlyList<SqlScript>> Embedded = new(LoadEmbeddedScripts);

    /// <summary>Written once per script as it is applied (the deploy pipeline's log).</summary>
    public TextWriter Output { get; init; } = TextWriter.Null;

    /// <summary>How long one script may run; <see cref="TimeSpan.Zero"/> means no limit (big index builds take time).</summary>
    public TimeSpan ScriptTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// How long a script's statement may wait for a lock (PostgreSQL's <c>lock_timeout</c> on the scripts'
    /// sessions; zero: forever). A DDL statement waiting for its lock holds up every query that comes after
    /// it on that table; with a short wait it gives up instead, and the script is tried again.
    /// </summary>
    public TimeSpan LockTimeout { get; init; } = DefaultLockTimeout;

    public static readonly TimeSpan DefaultLockTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Attempts at a script that gave up waiting for a lock (SQLSTATE 55P03) before the upgrade fails.</summary>
    public int LockAttempts { get; init; } = 5;

    /// <summary>The pause before a script that gave up waiting for a lock is tried again (doubled each time).</summary>
    public TimeSpan LockRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The scripts to apply; the embedded ones unless a test supplies others.</summary>
    public IReadOnlyList<SqlScript> Scripts { get; init; } = EmbeddedScripts();

    /// <summary>The scripts embedded in this assembly, in the order they apply.</summary>
    public static IReadOnlyList<SqlScript> EmbeddedScripts() => Embedded.Value;

    /// <summary>True when the script asks to run outside a transaction (<see cref="NoTransactionMarker"/> before its first statement).</summary>
    public static bool RunsOutsideTransaction(SqlScript script)
    {
        ArgumentNullException.ThrowIfNull(script);
        return script.Contents.Split('\n')
            .Select(line => line.Trim())
            .TakeWhile(line => line.Length == 0 || line.StartsWith("--", StringComparison.Ordinal))
            .Any(line => line.Equals(NoTransactionMarker, StringComparison.Ordinal));
    }

    /// <summary>SHA-256 of a script's text, line endings normalised (a checkout with CRLF is the same script).</summary>
    public static byte[] Checksum(SqlScript script)
    {
        ArgumentNullException.ThrowIfNull(script);
        return SHA256.HashData(Encoding.UTF8.GetBytes(script.Contents.Replace("\r\n", "\n", StringComparison.Ordinal)));
    }

    private static IReadOnlyList<SqlScript> LoadEmbeddedScripts()
    {
        var assembly = typeof(DatabaseUpgrader).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(ResourcePrefix, StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name =>
            {
                using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                return new SqlScript(name[ResourcePrefix.Length..], reader.ReadToEnd());
            })
            .ToList();
    }

    /// <summary>The scripts a run would apply now, in order. Changes nothing.</summary>
    public async Task<IReadOnlyList<string>> GetPendingScriptsAsync(CancellationToken cancellationToken) =>
        (await GetStatusAsync(cancellationToken).ConfigureAwait(false)).Pending;

    /// <summary>The scripts the journal records as applied, in order.</summary>
    public async Task<IReadOnlyList<string>> GetAppliedScriptsAsync(CancellationToken cancellationToken) =>
        (await GetStatusAsync(cancellationToken).ConfigureAwait(false)).Applied.Select(script => script.Name).ToList();

    /// <summary>Applied (with when), pending, changed and unknown scripts. Reads only; changes nothing.</summary>
    public async Task<MigrationStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ReadStatusAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes, for review, exactly the SQL a run would execute now, in order, each script with how it runs
    /// (in its own transaction or not). Reads the journal; changes nothing.
    /// </summary>
    public async Task<IReadOnlyList<string>> WriteScriptAsync(TextWriter writer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var status = await GetStatusAsync(cancellationToken).ConfigureAwait(false);
        await writer.WriteLineAsync($"-- UserKeys migrations pending on this database: {status.Pending.Count}. Generated by 'UserKeys.Api migrate --script'.").ConfigureAwait(false);
        await writer.WriteLineAsync("-- After each script the upgrader records it in public.schemaversions (DbUp's journal) and its SHA-256 in").ConfigureAwait(false);
        await writer.WriteLineAsync("-- public.schemachecksums, in the same transaction. Nothing here has been run.").ConfigureAwait(false);
        foreach (var script in Scripts.Where(script => status.Pending.Contains(script.Name)))
        {
            var outside = RunsOutsideTransaction(script);
            await writer.WriteLineAsync().ConfigureAwait(false);
            await writer.WriteLineAsync($"-- ==== {script.Name} ({(outside ? "outside any transaction" : "in its own transaction")}) ====").ConfigureAwait(false);
            if (!outside)
            {
                await writer.WriteLineAsync("BEGIN;").ConfigureAwait(false);
            }

            await writer.WriteLineAsync(script.Contents.TrimEnd()).ConfigureAwait(false);
            if (!outside)
            {
                await writer.WriteLineAsync("COMMIT;").ConfigureAwait(false);
            }
        }

        return status.Pending;
    }

    /// <summary>
    /// Applies every pending script, holding the upgrader lock throughout. Refuses (and runs nothing) when
    /// an applied script changed since it was applied, unless <paramref name="repairChecksums"/>, which
    /// records the current content as the applied one; and when the database is newer than this build.
    /// </summary>
    public async Task<UpgradeResult> UpgradeAsync(CancellationToken cancellationToken, bool repairChecksums = false)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await AcquireLockAsync(lockConnection, cancellationToken).ConfigureAwait(false);
        try
        {
            await lockConnection.ExecuteAsync(new CommandDefinition(SqlCatalog.Upgrader.EnsureChecksumTable.Text, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var status = await ReadStatusAsync(lockConnection, cancellationToken).ConfigureAwait(false);
            if (status.Unknown.Count > 0)
            {
                return new UpgradeResult([], null,
                    $"the database is newer than this build: it has applied {string.Join(", ", status.Unknown)}, which this build does not carry",
                    Refused: true);
            }

            if (status.Changed.Count > 0 && !repairChecksums)
            {
                return new UpgradeResult([], null,
                    $"applied script(s) changed since they were applied: {string.Join(", ", status.Changed)}. Released migrations are never edited: " +
                    "add a new script instead. If the change is deliberate and harmless (a comment, say), run 'migrate --repair-checksums'",
                    Refused: true);
            }

            // Record what was applied before checksums existed (trust on first use) and, on a repair, what changed.
            var applied = status.Applied.Select(script => script.Name).ToHashSet(StringComparer.Ordinal);
            var recorded = await ReadChecksumsAsync(lockConnection, cancellationToken).ConfigureAwait(false);
            foreach (var script in Scripts.Where(script => applied.Contains(script.Name)
                && (!recorded.ContainsKey(script.Name) || status.Changed.Contains(script.Name))))
            {
                if (status.Changed.Contains(script.Name))
                {
                    logger.LogWarning("Repairing the recorded checksum of {Script}: its current content is now taken as applied", script.Name);
                }

                await lockConnection.ExecuteAsync(new CommandDefinition(SqlCatalog.Upgrader.RecordChecksum.Text,
                    new { name = script.Name, sha256 = Checksum(script) }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            }

            var done = new List<string>();
            var pending = Scripts.Where(script => !applied.Contains(script.Name)).ToList();
            // Consecutive scripts of one kind run in one engine: per-script transactions, or none.
            UpgradeEngine Engine(IReadOnlyList<SqlScript> scripts, bool outsideTransaction)
            {
                var engine = BuildEngine(scripts, outsideTransaction);
                engine.ScriptExecuted += (_, args) =>
                {
                    var name = ((ScriptExecutedEventArgs)args).Script.Name;
                    done.Add(name);
                    Output.WriteLine($"applied {name}");
                };
                return engine;
            }

            foreach (var group in Batches(pending))
            {
                var engine = Engine(group.Scripts, group.OutsideTransaction);

                // DbUp is synchronous; keep it off the caller's thread.
                var result = await Task.Run(engine.PerformUpgrade, cancellationToken).ConfigureAwait(false);
                for (var attempt = 1; !result.Successful && result.Error is PostgresException { SqlState: PostgresErrorCodes.LockNotAvailable }
                    && attempt < LockAttempts; attempt++)
                {
                    // The script rolled back (or, outside a transaction, its statement did nothing); the ones
                    // before it are journaled. Wait, then run what is still pending of this batch.
                    var delay = LockRetryDelay * Math.Pow(2, attempt - 1);
                    logger.LogWarning(
                        "Migration {Script} waited longer than lock_timeout ({LockTimeoutMs} ms) for a lock held by another session; trying it again in {DelayMs} ms (attempt {Attempt} of {Attempts})",
                        result.ErrorScript?.Name ?? "(unknown script)", (long)LockTimeout.TotalMilliseconds, (long)delay.TotalMilliseconds, attempt + 1, LockAttempts);
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    var remaining = group.Scripts.Where(script => !done.Contains(script.Name, StringComparer.Ordinal)).ToList();
                    engine = Engine(remaining, group.OutsideTransaction);
                    result = await Task.Run(engine.PerformUpgrade, cancellationToken).ConfigureAwait(false);
                }

                if (!result.Successful)
                {
                    var error = result.Error is PostgresException postgres
                        ? $"{postgres.SqlState}: {postgres.MessageText}{(postgres.Position > 0 ? $" (at character {postgres.Position})" : "")}"
                        : result.Error?.Message ?? "unknown error";
                    return new UpgradeResult(done, result.ErrorScript?.Name ?? "(unknown script)", error);
                }
            }

            return new UpgradeResult(done, null, null);
        }
        finally
        {
            // Closing the connection would release the lock too; say so explicitly for pg_locks readers.
            await lockConnection.ExecuteAsync(new CommandDefinition(
                SqlCatalog.Upgrader.Unlock.Text, new { key = LockKey }, cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private static IEnumerable<(IReadOnlyList<SqlScript> Scripts, bool OutsideTransaction)> Batches(IReadOnlyList<SqlScript> scripts)
    {
        var batch = new List<SqlScript>();
        bool? outside = null;
        foreach (var script in scripts)
        {
            var scriptOutside = RunsOutsideTransaction(script);
            if (outside is { } current && current != scriptOutside)
            {
                yield return (batch, current);
                batch = [];
            }

            outside = scriptOutside;
            batch.Add(script);
        }

        if (outside is { } last)
        {
            yield return (batch, last);
        }
    }

    private async Task<MigrationStatus> ReadStatusAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = await SchemaStatus.ReadJournalAsync(connection, cancellationToken).ConfigureAwait(false);
        var schema = SchemaStatus.Compare(applied.Select(script => script.Name), Scripts);
        var recorded = await ReadChecksumsAsync(connection, cancellationToken).ConfigureAwait(false);
        var known = Scripts.ToDictionary(script => script.Name, StringComparer.Ordinal);
        var changed = applied
            .Where(script => known.TryGetValue(script.Name, out var current) && recorded.TryGetValue(script.Name, out var sha)
                && !CryptographicOperations.FixedTimeEquals(sha, Checksum(current)))
            .Select(script => script.Name).ToList();
        return new MigrationStatus(applied, schema.Pending, changed, schema.Unknown);
    }

    private static async Task<Dictionary<string, byte[]>> ReadChecksumsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            return (await connection.QueryAsync<(string Name, byte[] Sha256)>(new CommandDefinition(
                    SqlCatalog.Upgrader.Checksums.Text, cancellationToken: cancellationToken)).ConfigureAwait(false))
                .ToDictionary(row => row.Name, row => row.Sha256, StringComparer.Ordinal);
        }
        catch (PostgresException error) when (error.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return new Dictionary<string, byte[]>(StringComparer.Ordinal);
        }
    }

    private async Task AcquireLockAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var logged = false;
        // Polled, not waited for inside one statement: a statement waiting on a lock holds a snapshot, and
        // CREATE INDEX CONCURRENTLY in the running upgrader waits for every older snapshot to end, so the
        // two would wait for each other forever (PostgreSQL does not see that cycle).
        while (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            SqlCatalog.Upgrader.TryLock.Text, new { key = LockKey }, cancellationToken: cancellationToken)).ConfigureAwait(false))
        {
            if (!logged)
            {
                logger.LogInformation("Another upgrader holds the migration lock (advisory lock {LockKey}); waiting for it to finish", LockKey);
                logged = true;
            }

            await Task.Delay(LockPollInterval, cancellationToken).ConfigureAwait(false);
        }

        if (logged)
        {
            logger.LogInformation("Migration lock acquired");
        }
    }

    private static readonly TimeSpan LockPollInterval = TimeSpan.FromMilliseconds(200);

    private UpgradeEngine BuildEngine(IReadOnlyList<SqlScript> scripts, bool outsideTransaction)
    {
        var builder = DeployChanges.To
            // Only scripts in a transaction wait for locks that stall traffic; a CONCURRENTLY build waits for
            // older transactions without blocking anyone, and cut short it would leave an INVALID index.
            .PostgresqlDatabase(outsideTransaction ? connectionString : WithLockTimeout(connectionString))
            .WithScripts(scripts)
            .JournalTo((connections, log) => new ChecksumJournal(new PostgresqlTableJournal(connections, log, JournalSchema, JournalTable)))
            // Scripts are plain PostgreSQL: $...$ is dollar quoting, not a DbUp variable.
            .WithVariablesDisabled()
            .WithExecutionTimeout(ScriptTimeout)
            .LogTo(logger);
        builder = outsideTransaction ? builder.WithoutTransaction() : builder.WithTransactionPerScript();
        return builder.Build();
    }

    /// <summary>The scripts' sessions get <see cref="LockTimeout"/> unless the connection string sets a lock_timeout itself.</summary>
    private string WithLockTimeout(string original)
    {
        var builder = new NpgsqlConnectionStringBuilder(original);
        var options = builder.Options ?? "";
        if (LockTimeout > TimeSpan.Zero && !options.Contains("lock_timeout", StringComparison.Ordinal))
        {
            builder.Options = $"{options} -c lock_timeout={(long)LockTimeout.TotalMilliseconds}".Trim();
        }

        return builder.ConnectionString;
    }

    /// <summary>DbUp's journal, plus the script's SHA-256 recorded with the same command factory (so in the script's transaction).</summary>
    private sealed class ChecksumJournal(IJournal inner) : IJournal
    {
        public string[] GetExecutedScripts() => inner.GetExecutedScripts();

        public void StoreExecutedScript(SqlScript script, Func<IDbCommand> dbCommandFactory)
        {
            inner.StoreExecutedScript(script, dbCommandFactory);
            using var command = dbCommandFactory();
            command.CommandText = SqlCatalog.Upgrader.RecordChecksum.Text;
            AddParameter(command, "name", script.Name);
            AddParameter(command, "sha256", Checksum(script));
            command.ExecuteNonQuery();
        }

        public void EnsureTableExistsAndIsLatestVersion(Func<IDbCommand> dbCommandFactory)
        {
            inner.EnsureTableExistsAndIsLatestVersion(dbCommandFactory);
            using var command = dbCommandFactory();
            command.CommandText = SqlCatalog.Upgrader.EnsureChecksumTable.Text;
            command.ExecuteNonQuery();
        }

        private static void AddParameter(IDbCommand command, string name, object value)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
    }
}
