using System.Globalization;
using Microsoft.Extensions.Primitives;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;

namespace UserKeys.Api.Users;

/// <summary>
/// <c>GET /v1/users</c>'s query: <c>email</c> (lookup), or <c>limit</c> with <c>after</c> (keyset, the
/// default) or <c>offset</c>; <c>include=keys</c> with any of them. Out-of-range or non-numeric values
/// are 400, never a silent clamp.
/// </summary>
internal sealed record UserListQuery(string? Email, int Limit, string? After, int? Offset, bool IncludeKeys)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 100;

    /// <summary>
    /// A lookup or a keyset page is one statement (with its keys too: one joined statement), so no
    /// transaction; offset paging reads the total and the page in one read-only snapshot.
    /// </summary>
    public static UnitOfWorkMode ModeFor(HttpContext context) =>
        context.Request.Query.ContainsKey("offset") ? UnitOfWorkMode.ReadOnly : UnitOfWorkMode.SingleStatement;

    public static UserListQuery Parse(IQueryCollection query)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        string? Single(string name)
        {
            if (!query.TryGetValue(name, out StringValues values))
            {
                return null;
            }

            if (values.Count != 1)
            {
                errors[name] = ["must be given once"];
                return null;
            }

            return values[0];
        }

        var email = Single("email");
        var limitText = Single("limit");
        var after = Single("after");
        var offsetText = Single("offset");
        var include = Single("include");

        var limit = DefaultLimit;
        if (limitText is not null && !TryParseInRange(limitText, 1, MaxLimit, out limit))
        {
            errors["limit"] = [$"must be a whole number from 1 to {MaxLimit}"];
        }

        int? offset = null;
        if (offsetText is not null)
        {
            if (TryParseInRange(offsetText, 0, int.MaxValue, out var parsed))
            {
                offset = parsed;
            }
            else
            {
                errors["offset"] = [$"must be a whole number from 0 to {int.MaxValue}"];
            }
        }

        if (after is not null && offsetText is not null)
        {
            errors["after"] = ["cannot be combined with offset: use one way of paging"];
        }

        if (after is { Length: 0 })
        {
            errors["after"] = ["must be a next_cursor returned by the previous page"];
        }

        var includeKeys = false;
        if (include is not null)
        {
            if (include == "keys")
            {
                includeKeys = true;
            }
            else
            {
                errors["include"] = ["must be 'keys'"];
            }
        }

        if (email is not null)
        {
            email = email.Trim();
            if (UserInput.CheckEmail(email) is { } problem)
            {
                errors["email"] = [problem];
            }

            if (limitText is not null || after is not null || offsetText is not null)
            {
                errors["email"] = [.. errors.GetValueOrDefault("email", []), "cannot be combined with limit, after or offset"];
            }
        }

        if (errors.Count > 0)
        {
            throw new ValidationError(errors);
        }

        return new UserListQuery(email, limit, after, offset, includeKeys);
    }

    private static bool TryParseInRange(string text, int min, int max, out int value)
    {
        value = 0;
        return text.Length is > 0 and <= 10
            && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)
            && parsed >= min && parsed <= max
            && (value = (int)parsed) == parsed;
    }
}
