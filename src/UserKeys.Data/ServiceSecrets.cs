using System.Data;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data;

/// <summary>Secrets the service generated in the database (migration 0003), shared by every instance.</summary>
public sealed class ServiceSecretRepository(IDbConnection connection, IDbTransaction? transaction)
    : Repository(connection, transaction)
{
    public const string CursorHmacKey = "cursor_hmac_key";

    /// <exception cref="InvalidOperationException">The secret is missing: the schema is not migrated.</exception>
    public async Task<byte[]> GetAsync(string name, CancellationToken cancellationToken) =>
        await Connection.QuerySingleOrDefaultAsync<byte[]>(Command(SqlCatalog.Secrets.GetByName, new { name }, cancellationToken))
            .ConfigureAwait(false)
        ?? throw new InvalidOperationException($"The service secret '{name}' is missing; run 'UserKeys.Api migrate'.");
}
