using Npgsql;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Health;

/// <summary>
/// At start, compares the database's schema with this build. Pending scripts: a warning naming them
/// (serving does not migrate; <c>/readyz</c> stays 503 until the pipeline runs <c>migrate</c>). A database
/// newer than the code: a refusal to start. An unreachable database: a warning (readiness reports it).
/// </summary>
internal sealed partial class SchemaCheck(NpgsqlDataSource dataSource, ILogger<SchemaCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        SchemaStatus status;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            status = await SchemaStatus.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException)
        {
            LogUnreachable(logger, error.Message);
            return;
        }

        if (status.Unknown.Count > 0)
        {
            throw new InvalidOperationException(
                $"The database's schema is newer than this build (it has applied {string.Join(", ", status.Unknown)}, which this build " +
                "does not carry). Refusing to start: deploy the build that matches the database.");
        }

        if (status.Pending.Count > 0)
        {
            LogPending(logger, string.Join(", ", status.Pending));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Migrations are pending: {Scripts}. Run 'UserKeys.Api migrate'; /readyz answers 503 until then")]
    private static partial void LogPending(ILogger logger, string scripts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database cannot be reached at start ({Reason}); /readyz answers 503 until it can")]
    private static partial void LogUnreachable(ILogger logger, string reason);
}
