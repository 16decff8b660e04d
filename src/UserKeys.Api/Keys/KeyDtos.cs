using UserKeys.Api.Infrastructure;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>A key as the API shows it: never its token, never its hash.</summary>
public sealed record KeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    IReadOnlyList<string> Scopes)
{
    internal static KeyResponse From(ApiKeyRow row) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt, row.Scopes);

    internal static KeyResponse From(ApiKeyWithUserRow row) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt, row.Scopes);
}

/// <summary>A key as its creation returns it, the only time the token is ever shown.</summary>
public sealed record CreatedKeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    IReadOnlyList<string> Scopes, string Token)
{
    internal static CreatedKeyResponse From(ApiKeyRow row, string token) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt, row.Scopes, token);
}

/// <summary>A page of a user's keys, newest first; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record KeyListResponse(IReadOnlyList<KeyResponse> Items, string? NextCursor);

/// <summary>
/// <c>POST /v1/users/{id}/keys</c>: an optional name; an optional expiry in the future, no later than the
/// calling key's (omitted: the calling key's); optional scopes, none the calling key lacks (omitted: the
/// calling key's).
/// </summary>
public sealed record CreateKeyRequest : IRequestBody<CreateKeyRequest>
{
    [CodePoints(KeyService.NameMaxLength, Trim = true)]
    public string? Name { get; init => field = Text.TrimToNull(value); }

    [Future]
    public DateTimeOffset? ExpiresAt { get; init; }

    [ScopeList]
    public IReadOnlyList<string>? Scopes { get; init; }
}

/// <summary><c>POST /v1/keys/verify</c>: the token a client presented.</summary>
public sealed record VerifyRequest : IRequestBody<VerifyRequest>
{
    public required string Token { get; init; }
}

/// <summary>
/// The verdict on a token: <c>{"valid": true, "key", "user"}</c> or <c>{"valid": false, "reason"}</c>,
/// the reason one of <c>not_found</c>, <c>revoked</c>, <c>expired</c>, <c>malformed</c>.
/// </summary>
public sealed record VerifyResponse(
    bool Valid,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] KeyResponse? Key,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] Users.UserResponse? User,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Reason);
