using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Health;

internal static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        // Liveness: the process runs. Never touches the database.
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" }));

        // Readiness: the database answers and its schema is current.
        app.MapGet("/readyz", async (IConfiguration configuration, ILoggerFactory loggers, CancellationToken cancellationToken) =>
        {
            var connectionString = DatabaseConfiguration.GetConnectionString(configuration, out _)!;
            try
            {
                var pending = await new DatabaseUpgrader(connectionString, loggers.CreateLogger("UserKeys.Readiness"))
                    .GetPendingScriptsAsync(cancellationToken).ConfigureAwait(false);
                return pending.Count == 0
                    ? Results.Ok(new { status = "ready" })
                    : Results.Problem(statusCode: 503, title: "Migrations are pending", detail: string.Join(", ", pending));
            }
            catch (NpgsqlException)
            {
                return Results.Problem(statusCode: 503, title: "The database is unavailable");
            }
        });
        return app;
    }
}
