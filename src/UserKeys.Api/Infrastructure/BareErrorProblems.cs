namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Gives an error status that nothing wrote a body for its problem body: 404 for a path no endpoint has, 405
/// for a method its path does not take. The same rule as ASP.NET Core's <c>UseStatusCodePages</c> (a status of
/// 400-599, the response not started, no Content-Length, no Content-Type; the body from
/// <see cref="IProblemDetailsService"/>), without what that middleware does on every request: a feature set on
/// the request (an allocation in Kestrel's feature collection), an endpoint metadata lookup and an async state
/// machine. Under cached verify that was about 2% of the service's CPU (perf, bench/RESULTS.md, seventh pass).
/// </summary>
internal sealed class BareErrorProblems(RequestDelegate next, IProblemDetailsService problems)
{
    public Task InvokeAsync(HttpContext context)
    {
        var handled = next(context);
        return handled.IsCompletedSuccessfully ? WriteIfBareAsync(context) : AfterAsync(handled, context);
    }

    private async Task AfterAsync(Task handled, HttpContext context)
    {
        await handled.ConfigureAwait(false);
        await WriteIfBareAsync(context).ConfigureAwait(false);
    }

    private Task WriteIfBareAsync(HttpContext context)
    {
        var response = context.Response;
        if (response.StatusCode is < 400 or >= 600 || response.HasStarted || response.ContentLength.HasValue
            || !string.IsNullOrEmpty(response.ContentType))
        {
            return Task.CompletedTask;
        }

        return problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = { Status = response.StatusCode } }).AsTask();
    }
}
