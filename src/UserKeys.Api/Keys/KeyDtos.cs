using System.Text.Json;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>
/// A key as the API shows it: never its token, never its hash. <c>budget_key_id</c> names the key whose usage limits it draws
/// on (its own id, or the key its holder derived it from or rolled), and remaining, refill and rate_limits are that budget's.
/// </summary>
public sealed record KeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    bool Enabled, IReadOnlyList<string> Scopes, IReadOnlyList<string> Permissions, RawJson? Meta, long? RolledFromId,
    long? Remaining, Refill? Refill, DateTime? RefilledAt, IReadOnlyList<RateLimitRule> RateLimits, long BudgetKeyId)
{
    internal static KeyResponse From(ApiKeyRow row) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt,
            row.Enabled, row.Scopes, row.Permissions, RawJson.From(row.Meta), row.RolledFromId,
            row.Remaining, Refill.From(row), row.RefilledAt, row.RateLimits.Rules, row.BudgetId);
}

/// <summary>A key as its creation (or its roll) returns it, the only time the token is ever shown.</summary>
public sealed record CreatedKeyResponse(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    bool Enabled, IReadOnlyList<string> Scopes, IReadOnlyList<string> Permissions, RawJson? Meta, long? RolledFromId,
    long? Remaining, Refill? Refill, DateTime? RefilledAt, IReadOnlyList<RateLimitRule> RateLimits, long BudgetKeyId, string Token)
{
    internal static CreatedKeyResponse From(ApiKeyRow row, string token) =>
        new(row.Id, row.UserId, row.Name, row.Prefix, row.CreatedAt, row.ExpiresAt, row.RevokedAt, row.LastUsedAt,
            row.Enabled, row.Scopes, row.Permissions, RawJson.From(row.Meta), row.RolledFromId,
            row.Remaining, Refill.From(row), row.RefilledAt, row.RateLimits.Rules, row.BudgetId, token);
}

/// <summary>
/// A key's refill (../shared/API.md, "Usage control"): at the start of each UTC day (<c>daily</c>) or month
/// (<c>monthly</c>) its <c>remaining</c> is set to <see cref="Amount"/>.
/// </summary>
[System.ComponentModel.Description("{\"interval\": \"daily\" | \"monthly\", \"amount\": 0..9007199254740992}")]
public sealed record Refill(string Interval, long Amount)
{
    public const string Daily = "daily";
    public const string Monthly = "monthly";

    internal static Refill? From(ApiKeyRow row) => From(row.RefillInterval, row.RefillAmount);

    internal static Refill? From(string? interval, long? amount) =>
        (interval, amount) is ({ } every, { } units) ? new Refill(every, units) : null;
}

/// <summary>A page of a user's keys, newest first; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record KeyListResponse(IReadOnlyList<KeyResponse> Items, string? NextCursor);

/// <summary>
/// <c>POST /v1/users/{id}/keys</c>: an optional name; an optional expiry in the future, no later than the
/// calling key's (omitted: the calling key's); optional scopes, none the calling key lacks (omitted: the
/// calling key's); enabled (default true); permissions and meta for the services that verify the key.
/// </summary>
public sealed record CreateKeyRequest : UsageControlFields, IRequestBody<CreateKeyRequest>
{
    [CodePoints(KeyService.NameMaxLength, Trim = true)]
    public string? Name { get; init => field = Text.TrimToNull(value); }

    [Future]
    public DateTimeOffset? ExpiresAt { get; init; }

    public bool? Enabled { get; init; }

    [ScopeList]
    public IReadOnlyList<string>? Scopes { get; init; }

    [PermissionList]
    public IReadOnlyList<string>? Permissions { get; init; }

    /// <summary>Admins only (a member's new key carries its calling key's meta).</summary>
    [MetaObject]
    public Optional<JsonElement?> Meta { get; init; }
}

/// <summary>
/// <c>PATCH /v1/users/{id}/keys/{key_id}</c>: absent fields stay. <c>scopes</c> may only narrow the key's;
/// <c>expires_at</c> is bound like on creation (in the future, no later than the calling key's; null: never,
/// only for a calling key that never expires); <c>"name": null</c> and <c>"meta": null</c> clear them.
/// </summary>
public sealed record UpdateKeyRequest : UsageControlFields, IRequestBody<UpdateKeyRequest>
{
    [CodePoints(KeyService.NameMaxLength, Trim = true)]
    public Optional<string> Name { get; init => field = value.IsSet ? new(true, Text.TrimToNull(value.Value)) : value; }

    [NonNull]
    public Optional<bool> Enabled { get; init; }

    [NonNull]
    [ScopeList]
    public Optional<IReadOnlyList<string>> Scopes { get; init; }

    [NonNull]
    [PermissionList]
    public Optional<IReadOnlyList<string>> Permissions { get; init; }

    [MetaObject]
    public Optional<JsonElement?> Meta { get; init; }

    [Future]
    public Optional<DateTimeOffset?> ExpiresAt { get; init; }
}

/// <summary>
/// A key's or a user's usage control, on creation and in PATCH alike, for admins only (a member sending any of them: 403).
/// <c>remaining</c>: null is unlimited; set outright, units instances leased before are not handed back into it.
/// <c>refill</c>: null clears it (remaining stays); on creation without <c>remaining</c>, remaining starts at its amount.
/// <c>rate_limits</c>: up to 5, names unique; replaces them all, null or [] removes them.
/// </summary>
public abstract record UsageControlFields
{
    [Units]
    public Optional<long?> Remaining { get; init; }

    [RefillRule]
    public Optional<Refill?> Refill { get; init; }

    [RateLimitList]
    public Optional<IReadOnlyList<RateLimitRule>?> RateLimits { get; init; }

    /// <summary>Whether any of them was sent.</summary>
    internal bool SetsUsageControl => Remaining.IsSet || Refill.IsSet || RateLimits.IsSet;

    /// <summary>A user's limits as sent (on creation: remaining defaults to the refill's amount, like a key's).</summary>
    internal Data.Users.UserLimits UserLimits => new(
        Remaining.IsSet, Remaining.Value, Refill.IsSet, Refill.Value?.Interval, Refill.Value?.Amount,
        RateLimits.IsSet ? (RateLimits.Value is { Count: > 0 } rules ? new RateLimitRules(rules) : RateLimitRules.None) : null);
}

/// <summary>
/// <c>POST /v1/users/{id}/keys/{key_id}/roll</c>: how long the old key keeps working (0..604800 s, default 0). The
/// body may be left out.
/// </summary>
public sealed record RollKeyRequest : IRequestBody<RollKeyRequest>
{
    public const int MaxGraceSeconds = 604_800;

    static bool IRequestBody<RollKeyRequest>.EmptyIsNoFields => true;

    [Between(0, MaxGraceSeconds)]
    public int? GraceSeconds { get; init; }
}

/// <summary><c>POST /v1/keys/verify</c>: the token a client presented, and the permissions the key must all hold.</summary>
public sealed record VerifyRequest : IRequestBody<VerifyRequest>
{
    public required string Token { get; init; }

    [PermissionList]
    public IReadOnlyList<string>? Permissions { get; init; }

    /// <summary>What this verification takes from the key's remaining credits and rate limits: 0..1000, default 1; 0 takes nothing.</summary>
    [Between(0, MaxCost)]
    public int? Cost { get; init; }

    public const int MaxCost = 1000;
}

/// <summary>
/// The verdict on a token: <c>{"valid": true, "key", "user", "remaining", "rate_limits"}</c> or
/// <c>{"valid": false, "reason"}</c>, the reason one of <c>malformed</c>, <c>not_found</c>, <c>revoked</c>,
/// <c>expired</c>, <c>disabled</c>, <c>insufficient_permissions</c>, <c>rate_limited</c>, <c>usage_exceeded</c>.
/// <c>remaining</c>: the key's credits after this verification (null: unlimited). A <c>rate_limited</c> refusal names the
/// limit (<c>rate_limit</c>) and when its window ends (<c>reset_at</c>).
/// </summary>
public sealed record VerifyResponse(
    bool Valid,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] KeyResponse? Key,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] Users.UserResponse? User,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] Units? Remaining,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<RateLimitState>? RateLimits,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Reason)
{
    /// <summary>With <c>rate_limited</c>: the limit that refused the verification.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? RateLimit { get; init; }

    /// <summary>With <c>rate_limited</c>: when that limit's window ends.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public DateTime? ResetAt { get; init; }
}

/// <summary>
/// One rate limit after a verification: what is left of its current window, when that ends, and whether it is the key's
/// (<c>key</c>: the limits of its budget) or its user's (<c>user</c>).
/// </summary>
public sealed record RateLimitState(string Name, long Limit, long Remaining, DateTime ResetAt, string AppliesTo);

/// <summary>
/// A count of credits that is always written, as a number or as null (unlimited); a <see cref="VerifyResponse"/>
/// without one (a refusal) leaves the field out.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(UnitsConverter))]
public readonly record struct Units(long? Value);

internal sealed class UnitsConverter : System.Text.Json.Serialization.JsonConverter<Units>
{
    public override Units Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        new(reader.TokenType == JsonTokenType.Null ? null : reader.GetInt64());

    public override void Write(Utf8JsonWriter writer, Units value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value.Value is { } units)
        {
            writer.WriteNumberValue(units);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}
