using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;

namespace UserKeys.Api.Keys;

/// <summary><c>GET /v1/users/{id}/keys</c>'s query: <c>limit</c> and <c>after</c>. Out of range is 400, never a clamp.</summary>
internal sealed record KeyListQuery(int Limit, string? After) : IBindableFromHttpContext<KeyListQuery>, IEndpointParameterMetadataProvider
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 100;

    public static ValueTask<KeyListQuery?> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var reader = new QueryStrings(context.Request.Query);
        var limit = reader.Limit(reader.Single("limit"), DefaultLimit, MaxLimit);
        var after = reader.Single("after");
        reader.CheckCursor(after);
        reader.ThrowIfInvalid();
        return ValueTask.FromResult<KeyListQuery?>(new KeyListQuery(limit, after));
    }

    public static void PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new QueryParametersMetadata(
            new("limit", "integer", $"Page size, 1 to {MaxLimit} (default {DefaultLimit})", 1, MaxLimit),
            new("after", "string", "The next_cursor of the previous page")));
}
