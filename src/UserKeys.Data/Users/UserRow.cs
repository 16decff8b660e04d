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
}

/// <summary>What <c>users/insert</c> needs.</summary>
public sealed record NewUser(string Email, string? Name, string Role);

/// <summary>
/// A partial update: a null <see cref="Email"/> or <see cref="Role"/> keeps the stored value;
/// <see cref="Name"/> is applied only when <see cref="SetName"/> is true, so it can be cleared.
/// </summary>
public sealed record UserUpdate(long Id, string? Email = null, bool SetName = false, string? Name = null, string? Role = null);

/// <summary>The position after which a keyset page starts: the last row of the previous page.</summary>
public readonly record struct UserPosition(DateTime CreatedAt, long Id);
