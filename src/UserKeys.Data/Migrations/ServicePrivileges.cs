using System.Data;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Migrations;

/// <summary>Least privilege (migration 0014): the role the service runs as gets rows, never the schema.</summary>
public static class ServicePrivileges
{
    /// <summary>Grants <paramref name="role"/> what the serving service needs. Run as the schema's owner.</summary>
    /// <exception cref="Npgsql.PostgresException">42704 when the role does not exist.</exception>
    public static Task GrantAsync(IDbConnection connection, string role, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(SqlCatalog.Schema.GrantServiceRole.Text, new { role }, cancellationToken: cancellationToken));

    /// <summary>What the connected role lacks ("api_keys: UPDATE"), empty when it has everything the service needs.</summary>
    public static async Task<IReadOnlyList<string>> MissingAsync(IDbConnection connection, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<string>(new CommandDefinition(SqlCatalog.Schema.MissingPrivileges.Text, cancellationToken: cancellationToken))
            .ConfigureAwait(false)).AsList();
}
