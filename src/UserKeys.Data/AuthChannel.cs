using System.Globalization;

namespace UserKeys.Data;

/// <summary>
/// The notifications on which every instance evicts cached credentials. Triggers send them (migration
/// 0004), for every change to keys and users however it is made; PostgreSQL delivers one only when its
/// transaction commits, in commit order. Payloads: <c>key:&lt;id&gt;</c>, <c>key_created:&lt;id&gt;</c>,
/// <c>user:&lt;id&gt;</c>, <c>all</c>, and the listeners' own <c>heartbeat:&lt;instance&gt;:&lt;n&gt;</c>.
/// </summary>
public static class AuthChannel
{
    public const string Name = "userkeys_auth_changed";

    public const string Key = "key";
    public const string KeyCreated = "key_created";
    public const string User = "user";
    public const string All = "all";
    public const string Heartbeat = "heartbeat";

    public static string HeartbeatPayload(Guid instance, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"{Heartbeat}:{instance:N}:{sequence}");
}
