using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Usage;

namespace UserKeys.Api.Usage;

/// <summary>What happened to one use of a key, as <c>GET .../keys/{key_id}/usage</c> counts it.</summary>
internal enum UsageOutcome
{
    Valid = 0,
    Revoked = 1,
    Expired = 2,
    Disabled = 3,
    InsufficientPermissions = 4,
    RateLimited = 5,
    UsageExceeded = 6,
}

/// <summary>
/// Counts each verification and authentication with a key by outcome, in memory, per UTC hour, and adds the counts to
/// <c>key_usage</c> every <see cref="FlushInterval"/> in one statement for all keys (<c>usage/flush</c>): no write per
/// verification, at most <see cref="FlushInterval"/> behind. A failed flush keeps its counts for the next one; a
/// graceful stop flushes; a crash loses at most one interval. Also deletes buckets older than
/// <see cref="ServiceOptions.UsageRetentionDays"/>, once an hour.
/// </summary>
internal sealed partial class UsageCounter(UnitOfWorkRunner database, TimeProvider clock, IOptions<ServiceOptions> options, ILogger<UsageCounter> logger)
    : PeriodicFlush(FlushInterval, clock)
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    private const int Outcomes = 7;
    private static readonly TimeSpan PurgeInterval = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<(long KeyId, long Hour), long[]> _counts = new();
    private long _nextPurgeTicks;

    public void Count(long keyId, UsageOutcome outcome)
    {
        var hour = Clock.GetUtcNow().UtcTicks / TimeSpan.TicksPerHour;
        var counts = _counts.GetOrAdd((keyId, hour), static _ => new long[Outcomes]);
        Interlocked.Increment(ref counts[(int)outcome]);
    }

    protected override Task AfterFlushAsync(CancellationToken cancellationToken) => PurgeIfDueAsync(cancellationToken);

    /// <summary>
    /// Key-hours a statement. The arrays of a batch stay small (8 KB each): one statement for 10,000 keys built about
    /// 1.3 MB of arrays every flush on the large object heap, which only a full (gen2) collection reclaims.
    /// </summary>
    internal int BatchSize { get; init; } = 1000;

    /// <summary>
    /// Adds what was counted since the last flush to the database, <see cref="BatchSize"/> key-hours a statement; on
    /// failure the batch's counts, and those not yet taken, wait for the next flush.
    /// </summary>
    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        // Batches whose write failed go first, as they were: with their operation id, a write that did land is not counted twice.
        while (_unsent.TryPeek(out var unsent))
        {
            if (!await SendAsync(unsent, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            _unsent.Dequeue();
        }

        var currentHour = Clock.GetUtcNow().UtcTicks / TimeSpan.TicksPerHour;
        var batch = new PendingBatch(BatchSize);
        foreach (var ((keyId, hour), counts) in _counts)
        {
            if (!batch.Take(keyId, hour, counts) && hour < currentHour - 1)
            {
                // Two hours quiet: nobody increments it any more.
                _counts.TryRemove(new KeyValuePair<(long, long), long[]>((keyId, hour), counts));
            }

            if (batch.Count == BatchSize && !await WriteAsync(batch, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }

        await WriteAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the batch (one statement) and empties it; on failure gives its counts back. False: it failed.</summary>
    private async Task<bool> WriteAsync(PendingBatch pending, CancellationToken cancellationToken)
    {
        if (pending.Count == 0)
        {
            return true;
        }

        var batch = pending.ToBatch();
        try
        {
            if (await SendAsync(batch, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            // Written or not (a connection lost at the commit cannot tell): sent again as it is, first thing next time.
            if (_unsent.Count < MaxUnsentBatches)
            {
                _unsent.Enqueue(batch);
            }
            else
            {
                // Too many waiting (the database has been down for an hour): the counts merge back, at the risk of counting
                // one failed batch twice.
                pending.GiveBack(batch);
            }

            return false;
        }
        finally
        {
            pending.Clear();
        }
    }

    /// <summary>Batches kept to be sent again as they were: an hour of flushes.</summary>
    private const int MaxUnsentBatches = 720;

    private readonly Queue<UsageBatch> _unsent = new();

    private async Task<bool> SendAsync(UsageBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            await database.RunAsync(UnitOfWorkMode.SingleStatement, unit => unit.Usage.FlushAsync(batch, cancellationToken), cancellationToken)
                .ConfigureAwait(false);
            return true;
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFlushFailed(logger, batch.KeyIds.Length, error.GetType().Name);
            return false;
        }
    }

    /// <summary>The key-hours taken for one statement, and the counters they were taken from.</summary>
    private sealed class PendingBatch(int capacity)
    {
        private readonly List<long> _keys = new(capacity);
        private readonly List<DateTime> _hours = new(capacity);
        private readonly List<long>[] _outcomes = [.. Enumerable.Range(0, Outcomes).Select(_ => new List<long>(capacity))];
        private readonly List<long[]> _taken = new(capacity);

        public int Count => _keys.Count;

        /// <summary>Takes the counts (resetting them to zero); false if there were none.</summary>
        public bool Take(long keyId, long hour, long[] counts)
        {
            Span<long> snapshot = stackalloc long[Outcomes];
            var any = false;
            for (var i = 0; i < Outcomes; i++)
            {
                snapshot[i] = Interlocked.Exchange(ref counts[i], 0);
                any |= snapshot[i] != 0;
            }

            if (!any)
            {
                return false;
            }

            _keys.Add(keyId);
            _hours.Add(new DateTime(hour * TimeSpan.TicksPerHour, DateTimeKind.Utc));
            for (var i = 0; i < Outcomes; i++)
            {
                _outcomes[i].Add(snapshot[i]);
            }

            _taken.Add(counts);
            return true;
        }

        public UsageBatch ToBatch() => new([.. _keys], [.. _hours], [.. _outcomes.Select(list => list.ToArray())]);

        public void GiveBack(UsageBatch batch)
        {
            for (var row = 0; row < _taken.Count; row++)
            {
                for (var i = 0; i < Outcomes; i++)
                {
                    Interlocked.Add(ref _taken[row][i], batch.Outcomes[i][row]);
                }
            }
        }

        public void Clear()
        {
            _keys.Clear();
            _hours.Clear();
            foreach (var list in _outcomes)
            {
                list.Clear();
            }

            _taken.Clear();
        }
    }

    private async Task PurgeIfDueAsync(CancellationToken cancellationToken)
    {
        var now = Clock.GetUtcNow();
        if (now.UtcTicks < _nextPurgeTicks)
        {
            return;
        }

        _nextPurgeTicks = (now + PurgeInterval).UtcTicks;
        try
        {
            await PurgeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is Npgsql.NpgsqlException or TimeoutException)
        {
            LogPurgeFailed(logger, error.GetType().Name);
        }
    }

    /// <summary>Deletes the buckets older than the retention, 1,000 at a time; how many.</summary>
    public async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        var before = Clock.GetUtcNow().UtcDateTime.AddDays(-options.Value.UsageRetentionDays);
        long total = 0;
        int deleted;
        do
        {
            deleted = await database.RunAsync(UnitOfWorkMode.SingleStatement,
                unit => unit.Usage.PurgeAsync(before, 1000, cancellationToken), cancellationToken).ConfigureAwait(false);
            total += deleted;
        }
        while (deleted == 1000);

        return total;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Usage counts of {Buckets} key-hours could not be written ({ErrorType}); they are sent again at the next flush")]
    private static partial void LogFlushFailed(ILogger logger, int buckets, string errorType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Usage retention purge failed ({ErrorType}); it runs again within the hour")]
    private static partial void LogPurgeFailed(ILogger logger, string errorType);
}
