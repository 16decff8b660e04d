using System.Data;
using Dapper;
using Npgsql;
using DbUp.Engine;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Migrations;

/// <summary>How the database's schema compares with the scripts this build carries.</summary>
/// <param name="Pending">Scripts of this build the database has not applied.</param>
/// <param name="Unknown">Scripts the database applied that this build does not know: the database is newer than the code.</param>
public sealed record SchemaStatus(IReadOnlyList<string> Pending, IReadOnlyList<string> Unknown)
{
    public bool IsCurrent => Pending.Count == 0 && Unknown.Count == 0;

    /// <summary>Reads the journal in one statement and compares it with the scripts this build carries.</summary>
    public static async Task<SchemaStatus> ReadAsync(IDbConnection connection, CancellationToken cancellationToken) =>
        Compare((await ReadJournalAsync(connection, cancellationToken).ConfigureAwait(false)).Select(script => script.Name),
            DatabaseUpgrader.EmbeddedScripts());

    /// <summary>DbUp's journal, in the order scripts were applied; empty for a database without one.</summary>
    public static async Task<IReadOnlyList<AppliedScript>> ReadJournalAsync(IDbConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        try
        {
            return (await connection.QueryAsync<(string Name, DateTime Applied)>(new CommandDefinition(
                    SqlCatalog.Schema.AppliedScripts.Text, cancellationToken: cancellationToken)).ConfigureAwait(false))
                .Select(row => new AppliedScript(row.Name, DateTime.SpecifyKind(row.Applied, DateTimeKind.Utc)))
                .ToList();
        }
        catch (PostgresException error) when (error.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return [];
        }
    }

    /// <summary>What of <paramref name="scripts"/> is not applied yet, and what was applied that they do not include.</summary>
    public static SchemaStatus Compare(IEnumerable<string> applied, IReadOnlyList<SqlScript> scripts)
    {
        ArgumentNullException.ThrowIfNull(scripts);
        var appliedSet = applied.ToHashSet(StringComparer.Ordinal);
        var known = scripts.Select(script => script.Name).ToHashSet(StringComparer.Ordinal);
        return new SchemaStatus(
            scripts.Where(script => !appliedSet.Contains(script.Name)).Select(script => script.Name).ToList(),
            appliedSet.Where(name => !known.Contains(name)).Order(StringComparer.Ordinal).ToList());
    }
}
