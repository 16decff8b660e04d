namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Problems are written as <c>application/problem+json</c> whatever the request's Accept header names. ASP.NET
/// Core's writer declines a request whose Accept allows neither JSON type (a browser's <c>text/html</c>, say):
/// its problem then lost its body (400), or the exception handler, finding no writer, answered 500 (401, 404).
/// This wraps that writer and always lets it write, so the body stays exactly the framework's (type, title,
/// status, detail, trace_id); RFC 9110 (15.5.7) lets a server answer in a type the client did not ask for
/// rather than 406, and an error is better told than refused.
/// </summary>
internal sealed class AnyAcceptProblemWriter(IProblemDetailsWriter framework) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context) => framework.WriteAsync(context);

    /// <summary>Wraps the writer <c>AddProblemDetails</c> registered; call after it.</summary>
    /// <exception cref="InvalidOperationException">Not exactly one writer is registered (the framework changed).</exception>
    public static void Wrap(IServiceCollection services)
    {
        var writers = services.Where(service => service.ServiceType == typeof(IProblemDetailsWriter)).ToList();
        if (writers is not [{ ImplementationType: { } frameworkType } registered])
        {
            throw new InvalidOperationException($"Expected the one problem writer AddProblemDetails registers, found {writers.Count}.");
        }

        services.Remove(registered);
        services.AddSingleton<IProblemDetailsWriter>(provider =>
            new AnyAcceptProblemWriter((IProblemDetailsWriter)ActivatorUtilities.CreateInstance(provider, frameworkType)));
    }
}
