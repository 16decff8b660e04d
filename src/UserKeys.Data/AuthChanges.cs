using System.Data;
using System.Globalization;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data;

/// <summary>
/// Announces changes to credentials (a key revoked or deleted, a user changed or deleted) on the
/// channel <see cref="Channel"/>, inside the caller's transaction: delivered to every listening
/// instance when, and only when, that transaction commits.
/// </summary>
public sealed class AuthChangeRepository(IDbConnection connection, IDbTransaction? transaction)
    : Repository(connection, transaction)
{
    public const string Channel = "userkeys_auth_changed";

    public Task KeyChangedAsync(long keyId, CancellationToken cancellationToken) =>
        NotifyAsync(KeyPayload(keyId), cancellationToken);

    public Task UserChangedAsync(long userId, CancellationToken cancellationToken) =>
        NotifyAsync(UserPayload(userId), cancellationToken);

    public static string KeyPayload(long keyId) => "key:" + keyId.ToString(CultureInfo.InvariantCulture);

    public static string UserPayload(long userId) => "user:" + userId.ToString(CultureInfo.InvariantCulture);

    private Task NotifyAsync(string payload, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.Auth.NotifyChanged, new { payload }, cancellationToken));
}
