using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// One structured line per request: method, route template (never the raw path or query, never a
/// header), status and duration. The Authorization header and bodies are never logged anywhere.
/// </summary>
internal sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            // The exception handler clears the endpoint before it writes the problem; its feature keeps it.
            var endpoint = context.GetEndpoint() ?? context.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
            var route = (endpoint as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (Activity.Current is { } trace)
            {
                // Traced (OTEL_EXPORTER_OTLP_ENDPOINT set): the line names the trace, to find its spans.
                LogTracedRequest(logger, context.Request.Method, route, context.Response.StatusCode, elapsed, trace.TraceId.ToHexString());
            }
            else
            {
                LogRequest(logger, context.Request.Method, route, context.Response.StatusCode, elapsed);
            }
        }
    }

    /// <summary>ZLogger's generator: the line is written as UTF-8 straight from the arguments, no string built.</summary>
    [ZLogger.ZLoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "HTTP {method} {route} responded {statusCode} in {elapsedMs:F3} ms")]
    private static partial void LogRequest(ILogger logger, string method, string route, int statusCode, double elapsedMs);

    [ZLogger.ZLoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "HTTP {method} {route} responded {statusCode} in {elapsedMs:F3} ms trace {traceId}")]
    private static partial void LogTracedRequest(ILogger logger, string method, string route, int statusCode, double elapsedMs, string traceId);
}
