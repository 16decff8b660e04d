using UserKeys.Api.Infrastructure;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>The rules for user fields, shared by every endpoint and command that takes them.</summary>
internal static class UserInput
{
    public const int EmailMinLength = 3;
    public const int EmailMaxLength = 255;
    public const int NameMaxLength = 120;

    /// <summary>Null when <paramref name="email"/> (already trimmed) is acceptable, else what is wrong.</summary>
    public static string? CheckEmail(string email)
    {
        var length = JsonBody.CountCharacters(email);
        if (length is < EmailMinLength or > EmailMaxLength)
        {
            return $"must be {EmailMinLength} to {EmailMaxLength} characters";
        }

        var at = email.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at == email.Length - 1 || email.IndexOf('@', at + 1) >= 0)
        {
            return "must contain exactly one '@' with text on both sides";
        }

        if (email.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return "must not contain spaces or control characters";
        }

        return null;
    }

    public static string? CheckRole(string role) =>
        Roles.IsValid(role) ? null : $"must be '{Roles.Admin}' or '{Roles.Member}'";

    /// <summary>Reads and checks <c>email</c> (required, trimmed) from a body.</summary>
    public static string? ReadEmail(JsonBody body, bool required)
    {
        var email = body.String("email", required, trim: true);
        if (email is not null && CheckEmail(email) is { } problem)
        {
            body.AddError("email", problem);
            return null;
        }

        return email;
    }

    public static string? ReadRole(JsonBody body)
    {
        var role = body.String("role");
        if (role is not null && CheckRole(role) is { } problem)
        {
            body.AddError("role", problem);
            return null;
        }

        return role;
    }

    public static string? ReadName(JsonBody body, string field = "name") =>
        body.String(field, maxLength: NameMaxLength, trim: true) is { Length: > 0 } name ? name : null;
}
