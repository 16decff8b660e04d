namespace UserKeys.Data.Users;

/// <summary>Roles a user can have; the values stored in <c>users.role</c>.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";

    public static bool IsValid(string? role) => role is Admin or Member;
}

/// <summary>A row of <c>users</c>. Timestamps are UTC.</summary>
public sealed record UserRow
{
    public long Id { get; init; }

    public required string Email { get; init; }

    public string? Name { get; init; }

    public required string Role { get; init; }

    public DateTime CreatedAt { get; init; }

    /// <summary>The user's own credits, taken beside its keys' by every verification; null: unlimited (migration 0016).</summary>
    public long? Remaining { get; init; }

    public string? RefillInterval { get; init; }

    public long? RefillAmount { get; init; }

    public DateTime? RefilledAt { get; init; }

    public Keys.RateLimitRules RateLimits { get; init; } = Keys.RateLimitRules.None;
}

/// <summary>A user's usage limits as an admin sets them (<c>users/insert</c>, <c>users/update</c>).</summary>
public sealed record UserLimits(
    bool SetRemaining = false, long? Remaining = null,
    bool SetRefill = false, string? RefillInterval = null, long? RefillAmount = null,
    Keys.RateLimitRules? RateLimits = null)
{
    public static readonly UserLimits None = new();

    public bool SetsAny => SetRemaining || SetRefill || RateLimits is not null;
}

/// <summary>What <c>users/insert</c> needs.</summary>
public sealed record NewUser(string Email, string? Name, string Role, UserLimits? Limits = null);

/// <summary>
/// A partial update: a null <see cref="Email"/> or <see cref="Role"/> keeps the stored value;
/// <see cref="Name"/> is applied only when <see cref="SetName"/> is true, so it can be cleared.
/// </summary>
public sealed record UserUpdate(long Id, string? Email = null, bool SetName = false, string? Name = null, string? Role = null, UserLimits? Limits = null);

/// <summary>The position after which a keyset page starts: the last row of the previous page.</summary>
public readonly record struct UserPosition(DateTime CreatedAt, long Id);

/// <summary>A user with all of its keys (oldest first), as the <c>*_with_keys</c> statements return them.</summary>
public sealed record UserWithKeys(UserRow User, IReadOnlyList<Keys.ApiKeyRow> Keys);

/// <summary>One row of a <c>*_with_keys</c> statement: a user and one of its keys (null columns: no key).</summary>
internal sealed record UserKeyJoinRow
{
    public long Id { get; init; }

    public required string Email { get; init; }

    public string? Name { get; init; }

    public required string Role { get; init; }

    public DateTime CreatedAt { get; init; }

    public long? Remaining { get; init; }

    public string? RefillInterval { get; init; }

    public long? RefillAmount { get; init; }

    public DateTime? RefilledAt { get; init; }

    public Keys.RateLimitRules? RateLimits { get; init; }

    public long? KeyId { get; init; }

    public string? KeyName { get; init; }

    public string? KeyPrefix { get; init; }

    public DateTime? KeyCreatedAt { get; init; }

    public DateTime? KeyExpiresAt { get; init; }

    public DateTime? KeyRevokedAt { get; init; }

    public DateTime? KeyLastUsedAt { get; init; }

    public bool? KeyEnabled { get; init; }

    public string[]? KeyScopes { get; init; }

    public string[]? KeyPermissions { get; init; }

    public string? KeyMeta { get; init; }

    public long? KeyRolledFromId { get; init; }

    public long? KeyBudgetKeyId { get; init; }

    public long? KeyRemaining { get; init; }

    public string? KeyRefillInterval { get; init; }

    public long? KeyRefillAmount { get; init; }

    public DateTime? KeyRefilledAt { get; init; }

    public Keys.RateLimitRules? KeyRateLimits { get; init; }

    /// <summary>Folds the rows (ordered by user, then key) back into users with their keys, keeping the order.</summary>
    public static IReadOnlyList<UserWithKeys> Group(IEnumerable<UserKeyJoinRow> rows)
    {
        var users = new List<UserWithKeys>();
        List<Keys.ApiKeyRow>? keys = null;
        foreach (var row in rows)
        {
            if (users.Count == 0 || users[^1].User.Id != row.Id)
            {
                keys = [];
                users.Add(new UserWithKeys(
                    new UserRow
                    {
                        Id = row.Id, Email = row.Email, Name = row.Name, Role = row.Role, CreatedAt = row.CreatedAt, Remaining = row.Remaining,
                        RefillInterval = row.RefillInterval, RefillAmount = row.RefillAmount, RefilledAt = row.RefilledAt,
                        RateLimits = row.RateLimits ?? Keys.RateLimitRules.None,
                    }, keys));
            }

            if (row.KeyId is { } keyId)
            {
                keys!.Add(new Keys.ApiKeyRow
                {
                    Id = keyId, UserId = row.Id, Name = row.KeyName, Prefix = row.KeyPrefix!, CreatedAt = row.KeyCreatedAt!.Value,
                    ExpiresAt = row.KeyExpiresAt, RevokedAt = row.KeyRevokedAt, LastUsedAt = row.KeyLastUsedAt,
                    Enabled = row.KeyEnabled ?? true, Scopes = row.KeyScopes ?? [], Permissions = row.KeyPermissions ?? [], Meta = row.KeyMeta,
                    RolledFromId = row.KeyRolledFromId, BudgetKeyId = row.KeyBudgetKeyId ?? keyId, Remaining = row.KeyRemaining, RefillInterval = row.KeyRefillInterval,
                    RefillAmount = row.KeyRefillAmount, RefilledAt = row.KeyRefilledAt, RateLimits = row.KeyRateLimits ?? Keys.RateLimitRules.None,
                });
            }
        }

        return users;
    }
}
