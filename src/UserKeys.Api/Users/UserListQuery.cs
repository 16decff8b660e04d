using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Data;

namespace UserKeys.Api.Users;

/// <summary>
/// <c>GET /v1/users</c>'s query: <c>email</c> (lookup), or <c>limit</c> with <c>after</c> (keyset, the
/// default) or <c>offset</c>; <c>include=keys</c> with any of them. Out-of-range or non-numeric values
/// are 400, never a silent clamp.
/// </summary>
internal sealed record UserListQuery(string? Email, int Limit, string? After, int? Offset, bool IncludeKeys)
    : IBindableFromHttpContext<UserListQuery>, IEndpointParameterMetadataProvider
{
    public const int DefaultLimit = 50;
    /// <summary>
    /// The largest page. The keyset statements cap their inner scan at this plus one (<c>LIMIT 101</c>, see
    /// <c>sql/queries/users/list_first_page.sql</c>): raising it means raising that cap too.
    /// </summary>
    public const int MaxLimit = 100;

    /// <summary>
    /// A lookup or a keyset page is one statement (with its keys too: one joined statement), so no
    /// transaction; offset paging reads the total and the page in one read-only snapshot.
    /// </summary>
    public UnitOfWorkMode Mode => Offset is null ? UnitOfWorkMode.SingleStatement : UnitOfWorkMode.ReadOnly;

    public static ValueTask<UserListQuery?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<UserListQuery?>(Parse(context.Request.Query));

    public static void PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new QueryParametersMetadata(
            new("email", "string", "Look one user up by email, case-insensitively (not with limit, after or offset)"),
            new("limit", "integer", $"Page size, 1 to {MaxLimit} (default {DefaultLimit})", 1, MaxLimit),
            new("after", "string", "The next_cursor of the previous page (keyset paging; not with offset)"),
            new("offset", "integer", "Rows to skip (offset paging, with total; not with after)", 0, int.MaxValue),
            new("include", "string", "'keys' adds each user's keys")));

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

        reader.CheckCursor(after);

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
