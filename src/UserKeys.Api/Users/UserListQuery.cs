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
        var reader = new QueryStrings(query);
        var errors = reader.Errors;
        var email = reader.Single("email");
        var limitText = reader.Single("limit");
        var after = reader.Single("after");
        var offsetText = reader.Single("offset");
        var include = reader.Single("include");
        var limit = reader.Limit(limitText, DefaultLimit, MaxLimit);

        int? offset = null;
        if (offsetText is not null)
        {
            if (QueryStrings.TryParseInRange(offsetText, 0, int.MaxValue, out var parsed))
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

        reader.ThrowIfInvalid();
        return new UserListQuery(email, limit, after, offset, includeKeys);
    }
}
