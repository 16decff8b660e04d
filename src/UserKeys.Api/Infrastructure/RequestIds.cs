using System.Diagnostics;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// A request's id, as the audit log records it (<c>request_id</c>): the W3C trace context id of the request's
/// activity when tracing is on (<c>00-&lt;trace id&gt;-&lt;span id&gt;-01</c>), else ASP.NET Core's own
/// request identifier (connection id and request number).
/// </summary>
internal static class RequestIds
{
    public static string Of(HttpContext context) => Activity.Current?.Id ?? context.TraceIdentifier;
}
