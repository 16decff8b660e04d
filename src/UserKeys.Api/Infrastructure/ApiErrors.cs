namespace UserKeys.Api.Infrastructure;

/// <summary>An error the caller caused, raised by the HTTP layer; mapped to a 4xx problem in one place.</summary>
internal abstract class ApiError(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;
}

/// <summary>400 with <c>errors: { field: [messages] }</c>.</summary>
internal sealed class ValidationError(IReadOnlyDictionary<string, string[]> errors)
    : ApiError(StatusCodes.Status400BadRequest, "One or more fields are invalid", "See 'errors' for what each field needs.")
{
    public ValidationError(string field, string message)
        : this(new Dictionary<string, string[]> { [field] = [message] })
    {
    }

    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>400 for a request that cannot be read at all (not JSON, not an object).</summary>
internal sealed class BadRequestError(string detail) : ApiError(StatusCodes.Status400BadRequest, "The request is malformed", detail);

/// <summary>413 for a body over the limit.</summary>
internal sealed class PayloadTooLargeError(long limit)
    : ApiError(StatusCodes.Status413PayloadTooLarge, "The request body is too large", $"Request bodies are limited to {limit} bytes.");

/// <summary>403: authenticated, but this caller may not do this.</summary>
internal sealed class ForbiddenError(string detail) : ApiError(StatusCodes.Status403Forbidden, "Forbidden", detail);

/// <summary>429: the client address used up its failed credential checks (answered with the rate-limit fields).</summary>
internal sealed class TooManyFailuresError()
    : ApiError(StatusCodes.Status429TooManyRequests, "Too many requests", "This address sent too many tokens that were refused.");
