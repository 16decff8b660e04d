using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>A key as the API shows it: never its token, never its hash.</summary>
public sealed record KeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt)
{
    internal static KeyResponse From(ApiKeyRow row) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt);

    internal static KeyResponse From(ApiKeyWithUserRow row) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt);
}

/// <summary>A key as its creation returns it, the only time the token is ever shown.</summary>
public sealed record CreatedKeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    string Token)
{
    internal static CreatedKeyResponse From(ApiKeyRow row, string token) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt, token);
}

public sealed record KeyListResponse(IReadOnlyList<KeyResponse> Items);

/// <summary><c>POST /v1/users/{id}/keys</c>: an optional name and an optional expiry in the future.</summary>
public sealed record CreateKeyRequest(string? Name, DateTimeOffset? ExpiresAt);

/// <summary><c>POST /v1/keys/verify</c>.</summary>
public sealed record VerifyRequest(string Token);

/// <summary>
/// The verdict on a token: <c>{"valid": true, "key", "user"}</c> or <c>{"valid": false, "reason"}</c>,
/// the reason one of <c>not_found</c>, <c>revoked</c>, <c>expired</c>, <c>malformed</c>.
/// </summary>
public sealed record VerifyResponse(
    bool Valid,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] KeyResponse? Key,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] Users.UserResponse? User,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Reason);
