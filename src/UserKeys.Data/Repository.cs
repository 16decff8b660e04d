using System.Data;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data;

/// <summary>
/// Base of the thin repositories: they run catalog statements on the connection and transaction
/// they are given, never open connections, never commit.
/// </summary>
public abstract class Repository
{
    static Repository()
    {
        // Columns are snake_case (created_at), properties PascalCase (CreatedAt).
        DefaultTypeMap.MatchNamesWithUnderscores = true;
        SqlMapper.AddTypeHandler(new Keys.RateLimitRules.Handler());
    }

    protected Repository(IDbConnection connection, IDbTransaction? transaction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Connection = connection;
        Transaction = transaction;
    }

    protected IDbConnection Connection { get; }

    /// <summary>Null when the unit of work runs single statements without BEGIN/COMMIT.</summary>
    protected IDbTransaction? Transaction { get; }

    protected CommandDefinition Command(SqlStatement statement, object? parameters, CancellationToken cancellationToken) =>
        new(statement.Text, parameters, Transaction, cancellationToken: cancellationToken);
}
