using System.Text.Json.Serialization;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>
/// A user as the API shows it, with the usage limits an admin set on it (remaining, refill, rate_limits: they apply to
/// every verification of every key of the user). <see cref="Keys"/> only with <c>include=keys</c>.
/// </summary>
public sealed record UserResponse(
    long Id,
    string Email,
    string? Name,
    string Role,
    DateTime CreatedAt,
    long? Remaining,
    Refill? Refill,
    DateTime? RefilledAt,
    IReadOnlyList<Data.Keys.RateLimitRule> RateLimits,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<KeyResponse>? Keys = null)
{
    internal static UserResponse From(UserRow row, IReadOnlyList<KeyResponse>? keys = null) =>
        new(row.Id, row.Email, row.Name, row.Role, row.CreatedAt, row.Remaining, Refill.From(row.RefillInterval, row.RefillAmount), row.RefilledAt,
            row.RateLimits.Rules, keys);
}

/// <summary><c>GET /v1/users?email=</c>: zero or one user.</summary>
public sealed record UserLookupResponse(IReadOnlyList<UserResponse> Items);

/// <summary>A keyset page; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record UserPageResponse(IReadOnlyList<UserResponse> Items, string? NextCursor);

/// <summary>An offset page, with the total number of users.</summary>
public sealed record UserOffsetPageResponse(IReadOnlyList<UserResponse> Items, long Total, int Limit, int Offset);

/// <summary>
/// A new user's fields: an email (trimmed, unique case-insensitively), a name (trimmed; blank: none), a role (default
/// member; setting one needs a key with every user and key scope), and usage limits (admins only).
/// </summary>
public abstract record NewUserFields : UsageControlFields
{
    [CodePoints(UserInput.EmailMaxLength, MinimumLength = UserInput.EmailMinLength, Trim = true)]
    [Email]
    public required string Email { get; init => field = value?.Trim()!; }

    [CodePoints(UserInput.NameMaxLength, Trim = true)]
    public string? Name { get; init => field = Text.TrimToNull(value); }

    [OneOf(Roles.Admin, Roles.Member)]
    public string? Role { get; init; }
}

/// <summary><c>POST /v1/users</c>.</summary>
public sealed record CreateUserRequest : NewUserFields, IRequestBody<CreateUserRequest>;

/// <summary><c>PATCH /v1/users/{id}</c>: absent fields stay; <c>"name": null</c> clears the name; <c>role</c> is for admins.</summary>
public sealed record UpdateUserRequest : UsageControlFields, IRequestBody<UpdateUserRequest>
{
    [NonNull]
    [CodePoints(UserInput.EmailMaxLength, MinimumLength = UserInput.EmailMinLength, Trim = true)]
    [Email]
    public Optional<string> Email { get; init => field = value.IsSet ? new(true, value.Value?.Trim()) : value; }

    [CodePoints(UserInput.NameMaxLength, Trim = true)]
    public Optional<string> Name { get; init => field = value.IsSet ? new(true, Text.TrimToNull(value.Value)) : value; }

    [NonNull]
    [OneOf(Roles.Admin, Roles.Member)]
    public Optional<string> Role { get; init; }
}
