namespace UserKeys.Data.Keys;

/// <summary>A row of <c>api_keys</c>, without its hash. Timestamps are UTC.</summary>
public record ApiKeyRow
{
    public long Id { get; init; }

    public long UserId { get; init; }

    public string? Name { get; init; }

    public required string Prefix { get; init; }

    public DateTime CreatedAt { get; init; }

    public DateTime? ExpiresAt { get; init; }

    public DateTime? RevokedAt { get; init; }

    public DateTime? LastUsedAt { get; init; }

    /// <summary>False refuses the key until it is enabled again (migration 0008).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>What the key may do on the API (migration 0007).</summary>
    public string[] Scopes { get; init; } = [];

    /// <summary>Opaque strings for the services that verify the key (migration 0008).</summary>
    public string[] Permissions { get; init; } = [];

    /// <summary>An opaque JSON object as jsonb's text, or null (migration 0008).</summary>
    public string? Meta { get; init; }

    /// <summary>The key this one replaced (roll), or null.</summary>
    public long? RolledFromId { get; init; }

    /// <summary>
    /// The key whose usage limits (credits, refill, rate limits and their windows) this key draws on: its own id, or the
    /// key it was derived from by its holder or a roll (migration 0016). Remaining, refill and rate limits are that key's.
    /// </summary>
    public long BudgetKeyId { get; init; }

    /// <summary>Credits not yet leased to any instance; null: unlimited (migration 0010).</summary>
    public long? Remaining { get; init; }

    /// <summary>"daily" or "monthly", or null: no refill.</summary>
    public string? RefillInterval { get; init; }

    public long? RefillAmount { get; init; }

    /// <summary>The start of the UTC period the credits were last refilled for.</summary>
    public DateTime? RefilledAt { get; init; }

    /// <summary>Up to 5 named rate limits (migration 0012).</summary>
    public RateLimitRules RateLimits { get; init; } = RateLimitRules.None;

    /// <summary>Whether the key draws on another key's usage limits.</summary>
    public bool IsDerived => BudgetKeyId != 0 && BudgetKeyId != Id;

    /// <summary>The key whose usage limits this one draws on: <see cref="BudgetKeyId"/>, or its own id.</summary>
    public long BudgetId => IsDerived ? BudgetKeyId : Id;
}

/// <summary>A key with its user, as <c>keys/get_with_user_by_token_hash</c> returns them in one row.</summary>
public sealed record ApiKeyWithUserRow : ApiKeyRow
{
    public required string UserEmail { get; init; }

    public string? UserName { get; init; }

    public required string UserRole { get; init; }

    public DateTime UserCreatedAt { get; init; }

    /// <summary>The user's own credits (null: unlimited), taken beside the key's by every verification (migration 0016).</summary>
    public long? UserRemaining { get; init; }

    public string? UserRefillInterval { get; init; }

    public long? UserRefillAmount { get; init; }

    public DateTime? UserRefilledAt { get; init; }

    public RateLimitRules UserRateLimits { get; init; } = RateLimitRules.None;

    /// <summary>Whether verifying the key takes from any limit, the key's or its user's.</summary>
    public bool IsLimited => Remaining is not null || !RateLimits.IsEmpty || UserRemaining is not null || !UserRateLimits.IsEmpty;
}

/// <summary>
/// What <c>keys/insert</c> needs. <see cref="TokenHash"/> is the SHA-256 of the token (32 bytes); <see cref="Meta"/>
/// is a JSON object's text or null; <see cref="RolledFromId"/> names the key a roll replaces; <see cref="BudgetKeyId"/>
/// the budget a derived key draws on (then it has no usage limits of its own); <see cref="DerivedFromId"/> the calling key
/// a member derived it from.
/// </summary>
public sealed record NewApiKey(
    long UserId, string? Name, string Prefix, byte[] TokenHash, DateTime? ExpiresAt, string[] Scopes,
    bool Enabled = true, string[]? Permissions = null, string? Meta = null, long? RolledFromId = null,
    long? Remaining = null, string? RefillInterval = null, long? RefillAmount = null,
    RateLimitRules? RateLimits = null, long? BudgetKeyId = null, bool DisabledByAdmin = false, long? DerivedFromId = null);

/// <summary>The key a new key derives from, as <c>keys/lock_parent</c> read (and locked) it, with the budget it draws on.</summary>
public sealed record ParentKey
{
    public long Id { get; init; }

    public string[] Permissions { get; init; } = [];

    public string? Meta { get; init; }

    public DateTime? ExpiresAt { get; init; }

    public DateTime? RevokedAt { get; init; }

    public bool Enabled { get; init; }

    public long BudgetKeyId { get; init; }

    /// <summary>The database's clock when it read the row.</summary>
    public DateTime Now { get; init; }

    /// <summary>Whether the key still works: not revoked, not expired, enabled.</summary>
    public bool IsLive => RevokedAt is null && (ExpiresAt is null || ExpiresAt > Now) && Enabled;
}

/// <summary>
/// A partial update of a key (PATCH): a null <see cref="Enabled"/>, <see cref="Scopes"/> or <see cref="Permissions"/>
/// keeps the stored value; <see cref="Name"/>, <see cref="Meta"/> and <see cref="ExpiresAt"/> are applied only when
/// their Set flag is true, so that they can be cleared. <see cref="Scopes"/> may only narrow the stored ones.
/// <see cref="Holder"/>: a member acting on its own key, who may not enable what an admin disabled nor lengthen an expiry.
/// </summary>
public sealed record ApiKeyUpdate(
    long UserId, long Id, bool Holder,
    bool SetName = false, string? Name = null,
    bool? Enabled = null,
    string[]? Scopes = null,
    string[]? Permissions = null,
    bool SetMeta = false, string? Meta = null,
    bool SetExpiresAt = false, DateTime? ExpiresAt = null,
    bool SetRemaining = false, long? Remaining = null,
    bool SetRefill = false, string? RefillInterval = null, long? RefillAmount = null,
    RateLimitRules? RateLimits = null);

/// <summary>Where a key stands for a roll or an update that found nothing to change (<c>keys/get_state</c>).</summary>
public sealed record ApiKeyState
{
    public DateTime? ExpiresAt { get; init; }

    public DateTime? RevokedAt { get; init; }

    public DateTime? RolledAt { get; init; }

    public string[] Scopes { get; init; } = [];

    public string[] Permissions { get; init; } = [];

    public string? RefillInterval { get; init; }

    public bool DisabledByAdmin { get; init; }

    public long BudgetKeyId { get; init; }

    /// <summary>The database's clock when it read the row (expiry is judged by it).</summary>
    public DateTime Now { get; init; }
}

/// <summary>The old key after <c>keys/roll</c>: its row as it is now (its own columns), and its expiry before the roll (the new key's).</summary>
public sealed record RolledApiKeyRow : ApiKeyRow
{
    public DateTime? PreviousExpiresAt { get; init; }

    public bool DisabledByAdmin { get; init; }
}

/// <summary>
/// What <c>credits/lease</c> (or <c>credits/lease_user</c>) handed out: <see cref="Granted"/> units (0: fewer than needed were left), what is left in
/// the database, the credit epoch a give-back must name, and when the credits were last refilled.
/// </summary>
public sealed record CreditLease
{
    /// <summary>The key (or user) whose credits were leased.</summary>
    public long OwnerId { get; init; }

    public long Granted { get; init; }

    public long Remaining { get; init; }

    public int Epoch { get; init; }

    public DateTime? RefilledAt { get; init; }
}
