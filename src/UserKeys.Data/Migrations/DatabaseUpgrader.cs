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
/// <param name="Error">PostgreSQL's message for the failure; null on success.</param>
public sealed record UpgradeResult(IReadOnlyList<string> Applied, string? FailedScript, string? Error)
{
    public bool Successful => FailedScript is null && Error is null;
}

/// <summary>
/// Applies the DbUp scripts of <c>sql/migrations</c> (embedded in this assembly), one transaction
/// per script, journaled in <c>public.schemaversions</c>. DbUp does nothing about two upgraders
/// running at once (DbUp/DbUp#358, #841), so every upgrade holds a PostgreSQL session advisory
/// lock on a connection of its own: a second upgrader waits, then finds nothing left to do.
/// </summary>
public sealed class DatabaseUpgrader(string connectionString, ILogger logger)
{
    /// <summary>The advisory lock key: "UserKeys" in ASCII, so a DBA can recognise it in pg_locks.</summary>
    public const long LockKey = 0x5573_6572_4B65_7973;

    public const string JournalSchema = "public";
    public const string JournalTable = "schemaversions";

    private const string ResourcePrefix = "migrations/";

    /// <summary>Written once per script as it is applied (the deploy pipeline's log).</summary>
    public TextWriter Output { get; init; } = TextWriter.Null;

    /// <summary>How long one script may run; <see cref="TimeSpan.Zero"/> means no limit (big index builds take time).</summary>
    public TimeSpan ScriptTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>The scripts to apply; the embedded ones unless a test supplies others.</summary>
    public IReadOnlyList<SqlScript> Scripts { get; init; } = EmbeddedScripts();

    private static readonly Lazy<IReadOnlyList<SqlScript>> Embedded = new(LoadEmbeddedScripts);

    /// <summary>The scripts embedded in this assembly, in the order they apply.</summary>
    public static IReadOnlyList<SqlScript> EmbeddedScripts() => Embedded.Value;

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
    public Task<IReadOnlyList<string>> GetPendingScriptsAsync(CancellationToken cancellationToken) =>
        Task.Run<IReadOnlyList<string>>(
            () => BuildEngine().GetScriptsToExecute().Select(script => script.Name).ToList(),
            cancellationToken);

    /// <summary>The scripts the journal records as applied, in order.</summary>
    public Task<IReadOnlyList<string>> GetAppliedScriptsAsync(CancellationToken cancellationToken) =>
        Task.Run<IReadOnlyList<string>>(() => BuildEngine().GetExecutedScripts(), cancellationToken);

    /// <summary>Applies every pending script, holding the upgrader lock throughout.</summary>
    public async Task<UpgradeResult> UpgradeAsync(CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await AcquireLockAsync(lockConnection, cancellationToken).ConfigureAwait(false);
        try
        {
            var applied = new List<string>();
            var engine = BuildEngine();
            engine.ScriptExecuted += (_, args) =>
            {
                var name = ((ScriptExecutedEventArgs)args).Script.Name;
                applied.Add(name);
                Output.WriteLine($"applied {name}");
            };

            // DbUp is synchronous; keep it off the caller's thread.
            var result = await Task.Run(engine.PerformUpgrade, cancellationToken).ConfigureAwait(false);
            if (result.Successful)
            {
                return new UpgradeResult(applied, null, null);
            }

            var error = result.Error is PostgresException postgres
                ? $"{postgres.SqlState}: {postgres.MessageText}{(postgres.Position > 0 ? $" (at character {postgres.Position})" : "")}"
                : result.Error?.Message ?? "unknown error";
            return new UpgradeResult(applied, result.ErrorScript?.Name ?? "(unknown script)", error);
        }
        finally
        {
            // Closing the connection would release the lock too; say so explicitly for pg_locks readers.
            await lockConnection.ExecuteAsync(new CommandDefinition(
                SqlCatalog.Upgrader.Unlock.Text, new { key = LockKey }, cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private async Task AcquireLockAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var taken = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            SqlCatalog.Upgrader.TryLock.Text, new { key = LockKey }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (taken)
        {
            return;
        }

        logger.LogInformation("Another upgrader holds the migration lock (advisory lock {LockKey}); waiting for it to finish", LockKey);
        await connection.ExecuteAsync(new CommandDefinition(
            SqlCatalog.Upgrader.Lock.Text, new { key = LockKey }, commandTimeout: 0, cancellationToken: cancellationToken)).ConfigureAwait(false);
        logger.LogInformation("Migration lock acquired");
    }

    private UpgradeEngine BuildEngine() =>
        DeployChanges.To
            .PostgresqlDatabase(connectionString)
            .WithScripts(Scripts)
            .JournalToPostgresqlTable(JournalSchema, JournalTable)
            .WithTransactionPerScript()
            // Scripts are plain PostgreSQL: $...$ is dollar quoting, not a DbUp variable.
            .WithVariablesDisabled()
            .WithExecutionTimeout(ScriptTimeout)
            .LogTo(logger)
            .Build();
}
