namespace UserKeys.Data.Keys;

/// <summary>A row of <c>api_keys</c>, without its hash. Timestamps are UTC.</summary>
public sealed record ApiKeyRow
{
    public long Id { get; init; }

    public long UserId { get; init; }

    public string? Name { get; init; }

    public required string Prefix { get; init; }

    public DateTime CreatedAt { get; init; }

    public DateTime? ExpiresAt { get; init; }

    public DateTime? RevokedAt { get; init; }

    public DateTime? LastUsedAt { get; init; }

    /// <summary>What the key may do on the API (migration 0007).</summary>
    public string[] Scopes { get; init; } = [];
}

/// <summary>What <c>keys/insert</c> needs. <see cref="TokenHash"/> is the SHA-256 of the token (32 bytes).</summary>
public sealed record NewApiKey(long UserId, string? Name, string Prefix, byte[] TokenHash, DateTime? ExpiresAt, string[] Scopes);

/// <summary>A key with its user, as <c>keys/get_with_user_by_token_hash</c> returns them in one row.</summary>
public sealed record ApiKeyWithUserRow
{
    public long Id { get; init; }

    public long UserId { get; init; }

    public string? Name { get; init; }

    public required string Prefix { get; init; }

    public DateTime CreatedAt { get; init; }

    public DateTime? ExpiresAt { get; init; }

    public DateTime? RevokedAt { get; init; }

    public DateTime? LastUsedAt { get; init; }

    public string[] Scopes { get; init; } = [];

    public required string UserEmail { get; init; }

    public string? UserName { get; init; }

    public required string UserRole { get; init; }

    public DateTime UserCreatedAt { get; init; }
}
