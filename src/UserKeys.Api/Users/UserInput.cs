using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Users;

/// <summary>The rules for user fields, shared by the request records, the listing's query and the commands.</summary>
internal static class UserInput
{
    public const int EmailMinLength = 3;
    public const int EmailMaxLength = 255;
    public const int NameMaxLength = 120;

    /// <summary>Null when <paramref name="email"/> (already trimmed) is acceptable, else what is wrong.</summary>
    public static string? CheckEmail(string email)
    {
        var length = Text.CountCharacters(email);
        return length is < EmailMinLength or > EmailMaxLength
            ? $"must be {EmailMinLength} to {EmailMaxLength} characters"
            : CheckEmailShape(email);
    }

    /// <summary>One '@' with text on both sides, no spaces or control characters (length aside).</summary>
    public static string? CheckEmailShape(string email)
    {
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
}
