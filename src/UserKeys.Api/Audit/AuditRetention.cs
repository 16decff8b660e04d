using Microsoft.Extensions.Options;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;

namespace UserKeys.Api.Audit;

/// <summary>
/// The retention purge: at start and then every <see cref="ServiceOptions.AuditPurgeIntervalSeconds"/>, deletes the
/// audit events older than <see cref="ServiceOptions.AuditRetentionDays"/> in batches of <see cref="BatchSize"/>, each
/// its own short transaction with a pause between them, so that live writes never wait behind one long delete.
/// One instance at a time: a batch that finds another instance purging (the database function's advisory lock)
/// stops this pass.
/// </summary>
internal sealed partial class AuditRetention(
    UnitOfWorkRunner database, TimeProvider clock, IOptions<ServiceOptions> options, ILogger<AuditRetention> logger) : BackgroundService
{
    public const int BatchSize = 1000;

    /// <summary>At most this many batches a pass (a million events); the next pass goes on.</summary>
    public const int MaxBatchesPerPass = 1000;

    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.AuditPurgeIntervalSeconds), clock);
        do
        {
            try
            {
                await PurgeAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Npgsql.PostgresException denied) when (denied.SqlState == Npgsql.PostgresErrorCodes.InsufficientPrivilege)
            {
                // A role of its own (least privilege): the purge is the schema owner's (migration 0020).
                LogNotOwner(logger);
                return;
            }
            catch (Exception error) when (!stoppingToken.IsCancellationRequested && error is not OperationCanceledException)
            {
                LogFailed(logger, error.GetType().Name, (error as Npgsql.PostgresException)?.SqlState ?? "-");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One pass; how many events it deleted.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        var cutoff = clock.GetUtcNow().UtcDateTime.AddDays(-options.Value.AuditRetentionDays);
        long total = 0;
        for (var batch = 0; batch < MaxBatchesPerPass; batch++)
        {
            var deleted = await database.RunAsync(UnitOfWorkMode.SingleStatement,
                unit => unit.Audit.PurgeAsync(cutoff, BatchSize, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (deleted < 0)
            {
                LogBusy(logger);
                break;
            }

            total += deleted;
            if (deleted < BatchSize)
            {
                break;
            }

            await Task.Delay(Pause, clock, cancellationToken).ConfigureAwait(false);
        }

        if (total > 0)
        {
            LogPurged(logger, total, options.Value.AuditRetentionDays);
        }

        return total;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit retention: deleted {Count} events older than {Days} days")]
    private static partial void LogPurged(ILogger logger, long count, int days);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Audit retention: another instance is purging; this pass stops")]
    private static partial void LogBusy(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Audit retention: this service's database role may not purge (the schema owner's alone); run 'UserKeys.Api audit-purge' as the owner from a scheduler")]
    private static partial void LogNotOwner(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit retention pass failed ({ErrorType}, SQLSTATE {SqlState}); the next pass tries again")]
    private static partial void LogFailed(ILogger logger, string errorType, string sqlState);
}
