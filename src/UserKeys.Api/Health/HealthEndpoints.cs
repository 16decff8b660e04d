using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Health;

internal static class HealthEndpoints
{
    private static readonly JsonOk<HealthResponse> Alive = JsonResults.Ok(new HealthResponse("ok"));

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("").WithTags("Health").AllowAnonymous();

        health.MapGet("/healthz", () => Alive)
            .WithName("Health")
            .WithSummary("200 while the process runs; never touches the database");

        health.MapGet("/readyz", ReadyAsync)
            .WithName("Ready")
            .WithSummary("200 when the database answers and its schema is what this build expects, else 503")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<JsonOk<HealthResponse>, ProblemHttpResult>> ReadyAsync(
        NpgsqlDataSource dataSource, IOptions<ServiceOptions> options, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.ReadinessTimeoutSeconds));
        SchemaStatus status;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(timeout.Token);
            status = await SchemaStatus.ReadAsync(connection, timeout.Token);
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException
            || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The database is unavailable",
                detail: $"The database did not answer within {options.Value.ReadinessTimeoutSeconds} s.");
        }

        if (status.Unknown.Count > 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The database schema is newer than this build",
                detail: $"Applied scripts this build does not know: {string.Join(", ", status.Unknown)}. Deploy the matching build.");
        }

        return status.Pending.Count > 0
            ? TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Migrations are pending",
                detail: $"Run 'UserKeys.Api migrate'. Pending: {string.Join(", ", status.Pending)}.")
            : JsonResults.Ok(new HealthResponse("ready"));
    }
}
