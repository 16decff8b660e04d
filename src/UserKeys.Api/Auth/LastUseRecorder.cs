using System.Collections.Concurrent;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;

namespace UserKeys.Api.Auth;

/// <summary>
/// Writes keys' <c>last_used_at</c> off the request path: authentication and verification note a use here (at most
/// once a minute per key, <see cref="KeyVerifier"/>), and every <see cref="FlushInterval"/> one statement records all
/// the uses noted since (<c>keys/touch_last_used</c>, <see cref="BatchSize"/> keys a statement), so <c>last_used_at</c>
/// is at most that far behind.
/// <para>
/// Writing each use from its own request made every request that claimed a key's minute wait for an UPDATE. Keys
/// first used together come due together: 10,000 keys under verify came due in the same second, every minute, and
/// 10,000 UPDATEs through a pool of 4 connections held verify's p99 at 10-26 ms in those seconds (0.3 ms otherwise).
/// </para>
/// A failed flush keeps its uses for the next one; a graceful stop flushes; a crash loses at most one interval.
/// </summary>
internal sealed partial class LastUseRecorder(UnitOfWorkRunner database, TimeProvider clock, ILogger<LastUseRecorder> logger)
    : PeriodicFlush(FlushInterval, clock)
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Keys per statement: a short statement holds its row locks briefly, and stays below PostgreSQL's
    /// <c>jit_above_cost</c> (10,000 keys in one statement cost about 127,000 and were compiled every time).
    /// </summary>
    public const int BatchSize = 1000;

    /// <summary>The latest use noted per key (UTC ticks), since the last flush.</summary>
    private readonly ConcurrentDictionary<long, long> _pending = new();

    /// <summary>Notes that the key was used at <paramref name="at"/> (UTC); the next flush records it.</summary>
    public void Record(long keyId, DateTime at) =>
        _pending.AddOrUpdate(keyId, static (_, ticks) => ticks, static (_, seen, ticks) => Math.Max(seen, ticks), at.Ticks);

    /// <summary>How many keys' uses wait for the next flush.</summary>
    public int Pending => _pending.Count;

    /// <summary>Records the uses noted since the last flush; on failure they wait for the next.</summary>
    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        var ids = new List<long>(_pending.Count);
        var usedAt = new List<DateTime>(_pending.Count);
        foreach (var (keyId, _) in _pending)
        {
            if (_pending.TryRemove(keyId, out var ticks))
            {
                ids.Add(keyId);
                usedAt.Add(new DateTime(ticks, DateTimeKind.Utc));
            }
        }

        for (var start = 0; start < ids.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, ids.Count - start);
            long[] batchIds = [.. ids.GetRange(start, count)];
            DateTime[] batchUsedAt = [.. usedAt.GetRange(start, count)];
            try
            {
                await database.RunAsync(UnitOfWorkMode.SingleStatement,
                    unit => unit.Keys.TouchLastUsedAsync(batchIds, batchUsedAt, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // This batch wrote nothing (one statement), and the rest were not tried: they go back, unless a later
                // use of the key was noted meanwhile.
                for (var i = start; i < ids.Count; i++)
                {
                    Record(ids[i], usedAt[i]);
                }

                LogFlushFailed(logger, ids.Count - start, error.GetType().Name);
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The last use of {Keys} keys could not be recorded ({ErrorType}); it waits for the next flush")]
    private static partial void LogFlushFailed(ILogger logger, int keys, string errorType);
}
