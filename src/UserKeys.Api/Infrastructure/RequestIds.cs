using System.Diagnostics;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// A request's ids as the audit log records them: <c>request_id</c>, the service's own (ASP.NET Core's request
/// identifier: connection id and request number), which no caller chooses; and <c>trace_id</c>, the W3C trace id of the
/// request's activity when tracing is on (a caller's <c>traceparent</c> sets it), kept beside it for correlation.
/// </summary>
internal static class RequestIds
{
    public static string Of(HttpContext context) => context.TraceIdentifier;

    public static string? TraceOf() => Activity.Current is { } activity ? activity.TraceId.ToHexString() : null;
}
