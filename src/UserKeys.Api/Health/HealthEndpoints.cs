using Microsoft.AspNetCore.Http.HttpResults;
using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Health;

internal static class HealthEndpoints
{
    /// <summary>Rendered once: the answer never changes.</summary>
    private static readonly JsonOk<HealthResponse> Alive = new(JsonResults.Render(new HealthResponse("ok")));

    private static readonly JsonOk<HealthResponse> Ready = new(JsonResults.Render(new HealthResponse("ready")));

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("").WithTags("Health").AllowAnonymous();

        health.MapGet("/healthz", () => Alive)
            .WithName("Health")
            .WithSummary("200 while the process runs; never touches the database");

        health.MapGet("/readyz", ReadyAsync)
            .WithName("Ready")
            .WithSummary("200 when the database answers, its schema is what this build expects and the service's role has its privileges, else 503")
            .WithDescription("The answer of a check at most a second old: probes, however many, cost at most one check a second.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<JsonOk<HealthResponse>, ProblemHttpResult>> ReadyAsync(Readiness readiness)
    {
        var result = await readiness.CheckAsync();
        return result.IsReady
            ? Ready
            : TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: result.Title, detail: result.Detail);
    }
}
