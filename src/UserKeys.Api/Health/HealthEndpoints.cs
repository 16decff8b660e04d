using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Health;

internal static class HealthEndpoints
{
    /// <summary>Rendered once: the answer never changes.</summary>
    private static readonly JsonOk<HealthResponse> Alive = new(JsonResults.Render(new HealthResponse("ok")));

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("").WithTags("Health").AllowAnonymous();

        health.MapGet("/healthz", () => Alive)
            .WithName("Health")
            .WithSummary("200 while the process runs; never touches the database");

        health.MapGet("/readyz", ReadyAsync)
            .WithName("Ready")
            .WithSummary("200 when the database answers, its schema is what this build expects and the service's role has its privileges, else 503")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<JsonOk<HealthResponse>, ProblemHttpResult>> ReadyAsync(
        NpgsqlDataSource dataSource, IOptions<ServiceOptions> options, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.ReadinessTimeoutSeconds));
        SchemaStatus? status = null;
        IReadOnlyList<string> missing = [];
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(timeout.Token);
            try
            {
                status = await SchemaStatus.ReadAsync(connection, timeout.Token);
            }
            catch (PostgresException denied) when (denied.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                // Not even the migration journal: a role nobody granted anything (the catalog check says what it lacks).
            }

            if (status is null || (status.Pending.Count == 0 && status.Unknown.Count == 0))
            {
                missing = await ServicePrivileges.MissingAsync(connection, timeout.Token);
            }
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException
            || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The database is unavailable",
                detail: $"The database did not answer within {options.Value.ReadinessTimeoutSeconds} s.");
        }

        if (status is null || missing.Count > 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The service's database role lacks privileges",
                detail: $"Run 'UserKeys.Api migrate --grant-to <this role>' as the schema's owner. Missing: {string.Join(", ", missing)}.");
        }

        if (status.Unknown.Count > 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The database schema is newer than this build",
                detail: $"Applied scripts this build does not know: {string.Join(", ", status.Unknown)}. Deploy the matching build.");
        }

        if (status.Pending.Count > 0)
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Migrations are pending",
                detail: $"Run 'UserKeys.Api migrate'. Pending: {string.Join(", ", status.Pending)}.");
        }

        return JsonResults.Ok(new HealthResponse("ready"));
    }
}
