using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using UserKeys.Data;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// The one place where exceptions become problem responses (RFC 9457). Errors the caller caused are
/// 4xx with a clear detail; a database that cannot be reached is 503; anything else is a bug: 500,
/// logged, and answered without a stack trace, SQL or any request value.
/// </summary>
internal sealed partial class ProblemMapping(IProblemDetailsService problems, ILogger<ProblemMapping> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client is gone: nobody reads a response. The unit of work has rolled back.
            LogClientGone(logger, httpContext.Request.Method);
            httpContext.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
            return true;
        }

        if (exception is TooManyFailuresError)
        {
            var limiter = httpContext.RequestServices.GetRequiredService<FailureLimiter>();
            await RateLimits.WriteTooManyAsync(httpContext, FailureLimiter.PolicyName, limiter.PerSecond, exception.Message).ConfigureAwait(false);
            return true;
        }

        var problem = Map(exception);
        if (problem.Status >= 500)
        {
            if (problem.Status == StatusCodes.Status503ServiceUnavailable)
            {
                LogUnavailable(logger, exception.GetType().Name, exception);
                httpContext.Response.Headers.RetryAfter = "1";
            }
            else
            {
                LogBug(logger, exception);
            }
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = problem,
            Exception = exception,
        }).ConfigureAwait(false);
    }

    internal static ProblemDetails Map(Exception exception) => exception switch
    {
        ValidationError validation => new HttpValidationProblemDetails(validation.Errors.ToDictionary())
        {
            Status = validation.Status, Title = validation.Title, Detail = validation.Message,
        },
        ApiError api => new ProblemDetails { Status = api.Status, Title = api.Title, Detail = api.Message },
        NotFoundError notFound => new ProblemDetails
        {
            Status = StatusCodes.Status404NotFound, Title = "Not found", Detail = $"There is no {notFound.Resource} {notFound.Id}.",
        },
        RuleError rule => new ProblemDetails { Status = StatusCodes.Status409Conflict, Title = rule.Title, Detail = rule.Message },
        _ when Retry.IsPoolExhausted(exception) => new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "The service is busy",
            Detail = "No database connection came free in time; nothing was written. Retry shortly (Retry-After).",
        },
        PostgresException { SqlState: PostgresErrorCodes.QueryCanceled } => new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "The database is busy",
            Detail = "The request took longer than the statement timeout allows; nothing was written. Retry shortly.",
        },
        ConflictError conflict => new ProblemDetails
        {
            Status = StatusCodes.Status409Conflict, Title = $"The {conflict.Field} is taken", Detail = conflict.Message,
        },
        BadHttpRequestException bad => new ProblemDetails
        {
            Status = bad.StatusCode,
            Title = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "The request body is too large" : "The request is malformed",
            Detail = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"Request bodies are limited to {RequestBody.MaxBytes} bytes."
                : "The request could not be read.",
        },
        _ when IsUnavailable(exception) => new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "The database is unavailable",
            Detail = "The request was not carried out (nothing was written). Retry shortly.",
        },
        _ => new ProblemDetails
        {
            Status = StatusCodes.Status500InternalServerError,
            Title = "Internal error",
            Detail = "The request failed on our side and nothing was written. It has been logged.",
        },
    };

    /// <summary>A detail for problems the framework writes itself (unknown route, wrong method, ...).</summary>
    internal static string DefaultDetail(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "The request could not be understood.",
        StatusCodes.Status404NotFound => "There is nothing at this path. See /openapi/v1.json for the API.",
        StatusCodes.Status405MethodNotAllowed => "This path does not accept this method. See /openapi/v1.json for the API.",
        StatusCodes.Status406NotAcceptable => "The API answers application/json and application/problem+json only.",
        StatusCodes.Status415UnsupportedMediaType => "Send the body as application/json.",
        StatusCodes.Status413PayloadTooLarge => $"Request bodies are limited to {RequestBody.MaxBytes} bytes.",
        StatusCodes.Status431RequestHeaderFieldsTooLarge => "The request headers are too large.",
        >= 500 => "The request failed on our side and nothing was written.",
        _ => "The request was refused.",
    };

    /// <summary>The database could not be reached or is shutting down: the caller may retry.</summary>
    internal static bool IsUnavailable(Exception exception) =>
        Retry.IsBrokenConnection(exception)
        || exception is TimeoutException
        // Transient server-side states (too many connections, a deadlock left after the retries, ...).
        || exception is PostgresException { IsTransient: true } or PostgresException { SqlState: PostgresErrorCodes.TooManyConnections }
        || (exception is InvalidOperationException { InnerException: { } inner } && IsUnavailable(inner));

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} request abandoned: the client disconnected")]
    private static partial void LogClientGone(ILogger logger, string method);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database is unavailable ({ErrorType}); answering 503")]
    private static partial void LogUnavailable(ILogger logger, string errorType, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error; answering 500")]
    private static partial void LogBug(ILogger logger, Exception exception);
}
