namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Background work that writes what requests noted in memory (<see cref="Usage.UsageCounter"/>,
/// <see cref="Auth.LastUseRecorder"/>): every <c>interval</c>, and once more when the service stops gracefully.
/// </summary>
internal abstract class PeriodicFlush(TimeSpan interval, TimeProvider clock) : BackgroundService
{
    protected TimeProvider Clock { get; } = clock;

    /// <summary>Writes what was noted since the last flush; on failure it keeps it for the next.</summary>
    public abstract Task FlushAsync(CancellationToken cancellationToken);

    /// <summary>Runs after each periodic flush (not after the last one, at the stop).</summary>
    protected virtual Task AfterFlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, Clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
                await AfterFlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // StopAsync flushes what is left.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
