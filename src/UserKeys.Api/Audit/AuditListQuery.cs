using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Data.Audit;

namespace UserKeys.Api.Audit;

/// <summary>
/// An audit listing's query: <c>limit</c> and <c>after</c>, and for <c>GET /v1/audit</c> the filters
/// <c>user_id</c>, <c>key_id</c> and <c>action</c> (all given must match). Out of range is 400, never a clamp.
/// </summary>
internal sealed record AuditListQuery(int Limit, string? After, AuditFilter Filter)
    : IBindableFromHttpContext<AuditListQuery>, IEndpointParameterMetadataProvider
{
    public const int DefaultLimit = 50;
    /// <summary>
    /// The largest page. <c>audit/list_all</c> and <c>audit/list_by_action</c> cap their inner scan at this plus
    /// one (<c>LIMIT 101</c>, for the plan cache): raising it means raising that cap too.
    /// </summary>
    public const int MaxLimit = 100;

    public static ValueTask<AuditListQuery?> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var reader = new QueryStrings(context.Request.Query);
        var limit = reader.Limit(reader.Single("limit"), DefaultLimit, MaxLimit);
        var after = reader.Single("after");
        reader.CheckCursor(after);
        var filter = Filtered(parameter)
            ? new AuditFilter(reader.Id("user_id"), reader.Id("key_id"), reader.OneOf("action", AuditActions.All))
            : new AuditFilter();
        reader.ThrowIfInvalid();
        return ValueTask.FromResult<AuditListQuery?>(new AuditListQuery(limit, after, filter));
    }

    public static void PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder)
    {
        List<QueryParameter> parameters =
        [
            new("limit", "integer", $"Page size, 1 to {MaxLimit} (default {DefaultLimit})", 1, MaxLimit),
            new("after", "string", "The next_cursor of the previous page"),
        ];
        if (Filtered(parameter))
        {
            parameters.Add(new("user_id", "integer", "Only the events about this user and its keys (also after the user was deleted)", 1, long.MaxValue));
            parameters.Add(new("key_id", "integer", "Only the events about this key", 1, long.MaxValue));
            parameters.Add(new("action", "string", $"Only this action: {string.Join(", ", AuditActions.All)}"));
        }

        builder.Metadata.Add(new QueryParametersMetadata([.. parameters]));
    }

    /// <summary>Whether the endpoint takes filters (<see cref="AuditFiltersAttribute"/> on its parameter).</summary>
    private static bool Filtered(ParameterInfo parameter) => parameter.GetCustomAttribute<AuditFiltersAttribute>() is not null;
}

/// <summary>On an <see cref="AuditListQuery"/> parameter: the endpoint takes <c>user_id</c>, <c>key_id</c> and <c>action</c>.</summary>
[AttributeUsage(AttributeTargets.Parameter)]
internal sealed class AuditFiltersAttribute : Attribute;
