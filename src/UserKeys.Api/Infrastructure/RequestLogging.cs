using System.Diagnostics;
using Microsoft.AspNetCore.Routing.Patterns;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// One structured line per request: method, route template (never the raw path or query, never a
/// header), status and duration. The Authorization header and bodies are never logged anywhere.
/// </summary>
internal sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
{
    private static readonly object RouteKey = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var route = context.Items[RouteKey] as string ?? "(no route)";
            LogRequest(logger, context.Request.Method, route, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>After routing: remember the route template (the exception handler clears the endpoint).</summary>
    public static Task RememberRoute(HttpContext context, Func<Task> next)
    {
        if (context.GetEndpoint() is RouteEndpoint { RoutePattern: RoutePattern pattern })
        {
            context.Items[RouteKey] = pattern.RawText;
        }

        return next();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "HTTP {Method} {Route} responded {StatusCode} in {ElapsedMs:0.000} ms")]
    private static partial void LogRequest(ILogger logger, string method, string route, int statusCode, double elapsedMs);
}
