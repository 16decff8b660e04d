using System.Data;
using Dapper;
using Npgsql;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Migrations;

/// <summary>How the database's schema compares with the scripts this build carries.</summary>
/// <param name="Pending">Scripts of this build the database has not applied.</param>
/// <param name="Unknown">Scripts the database applied that this build does not know: the database is newer than the code.</param>
public sealed record SchemaStatus(IReadOnlyList<string> Pending, IReadOnlyList<string> Unknown)
{
    public bool IsCurrent => Pending.Count == 0 && Unknown.Count == 0;

    /// <summary>Reads the journal in one statement; a database without a journal has every script pending.</summary>
    public static async Task<SchemaStatus> ReadAsync(IDbConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        IReadOnlyList<string> applied;
        try
        {
            applied = (await connection.QueryAsync<string>(new CommandDefinition(
                SqlCatalog.Schema.AppliedScripts.Text, cancellationToken: cancellationToken)).ConfigureAwait(false)).AsList();
        }
        catch (PostgresException error) when (error.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            applied = [];
        }

        var known = DatabaseUpgrader.EmbeddedScripts().Select(script => script.Name).ToList();
        var appliedSet = applied.ToHashSet(StringComparer.Ordinal);
        return new SchemaStatus(
            known.Where(name => !appliedSet.Contains(name)).ToList(),
            applied.Where(name => !known.Contains(name, StringComparer.Ordinal)).Order(StringComparer.Ordinal).ToList());
    }
}
