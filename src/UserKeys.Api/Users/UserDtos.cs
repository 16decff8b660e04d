using System.Text.Json.Serialization;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>A user as the API shows it. <see cref="Keys"/> only with <c>include=keys</c>.</summary>
public sealed record UserResponse(
    long Id,
    string Email,
    string? Name,
    string Role,
    DateTime CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<KeyResponse>? Keys = null)
{
    internal static UserResponse From(UserRow row, IReadOnlyList<KeyResponse>? keys = null) =>
        new(row.Id, row.Email, row.Name, row.Role, row.CreatedAt, keys);
}

/// <summary><c>GET /v1/users?email=</c>: zero or one user.</summary>
public sealed record UserLookupResponse(IReadOnlyList<UserResponse> Items);

/// <summary>A keyset page; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record UserPageResponse(IReadOnlyList<UserResponse> Items, string? NextCursor);

/// <summary>An offset page, with the total number of users.</summary>
public sealed record UserOffsetPageResponse(IReadOnlyList<UserResponse> Items, long Total, int Limit, int Offset);

/// <summary>A new user's fields: an email (trimmed, unique case-insensitively), a name (trimmed; blank: none), a role (default member).</summary>
public abstract record NewUserFields
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
public sealed record UpdateUserRequest : IRequestBody<UpdateUserRequest>
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
