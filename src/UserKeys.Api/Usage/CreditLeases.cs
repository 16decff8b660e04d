using System.Collections.Concurrent;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Usage;

/// <summary>
/// Credits (a key's <c>remaining</c>) served from memory, exactly: the database is the source of truth, and this
/// instance spends only units it leased from it (<c>credits/lease</c>: one UPDATE hands out a share, never one write
/// per verification). So no instance, race or crash can grant more than the budget:
/// <list type="bullet">
/// <item>a lease is subtracted in the database before any of its units is granted;</item>
/// <item>leases shrink as the budget does (at most an eighth of what is left, beyond what is needed now), so near
/// the end instances lease single units and none holds many another instance could have used;</item>
/// <item>units not used within <see cref="IdleReturn"/> go back (<c>credits/give_back</c>), as do all of them when
/// the service stops and those of a key that changed (its notification); a give-back into a budget set outright
/// since (an admin's PATCH, a refill: another credit epoch) is dropped, never added;</item>
/// <item>a crash loses what the instance held: under-grant, bounded by its leases (README, "Usage control").</item>
/// </list>
/// </summary>
internal sealed partial class CreditLeases(UnitOfWorkRunner database, AuthCache cache, TimeProvider clock, ILogger<CreditLeases> logger)
    : BackgroundService
{
    /// <summary>The lease asked for beyond what a verification needs (the database grants at most an eighth of what is left).</summary>
    public const long PreferredLease = 64;

    /// <summary>Units unused this long go back to the database.</summary>
    public static readonly TimeSpan IdleReturn = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<long, Lease> _leases = new();

    /// <summary>
    /// Takes <paramref name="cost"/> units of <paramref name="key"/>'s credits: granted, with what is left as this
    /// instance knows it (the database's count at its last lease, plus what it holds), or refused with nothing taken.
    /// A cost of 0 takes nothing and is always granted.
    /// </summary>
    public async ValueTask<(bool Granted, long Remaining)> TakeAsync(ApiKeyRow key, long cost, CancellationToken cancellationToken)
    {
        while (true)
        {
            var lease = _leases.GetOrAdd(key.Id, static (_, remaining) => new Lease(remaining), key.Remaining ?? 0);
            if (await TakeAsync(key.Id, lease, cost, cancellationToken).ConfigureAwait(false) is { } outcome)
            {
                return outcome;
            }
        }
    }

    /// <summary>Null when the sweeper retired <paramref name="lease"/> meanwhile: take from the current one instead.</summary>
    private async ValueTask<(bool Granted, long Remaining)?> TakeAsync(long keyId, Lease lease, long cost, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcTicks;
        if (lease.TryTake(cost, now, out var remaining))
        {
            return (true, remaining);
        }

        await lease.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (lease.Retired)
            {
                return null;
            }

            // Another request may have leased while this one waited.
            if (lease.TryTake(cost, now, out remaining))
            {
                return (true, remaining);
            }

            var need = lease.Need(cost);
            var leased = await database.RunAsync(UnitOfWorkMode.SingleStatement,
                unit => unit.Keys.LeaseCreditsAsync(keyId, need, Math.Max(need, PreferredLease), cancellationToken), cancellationToken).ConfigureAwait(false);
            if (leased is null)
            {
                // Gone, or no longer limited, since it was cached: the notification evicts it; refuse this once.
                return (false, 0);
            }

            lease.Add(leased, now);
            return (lease.TryTake(cost, now, out remaining), remaining);
        }
        finally
        {
            lease.Gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        cache.KeyChanged += ReturnNow;
        try
        {
            using var timer = new PeriodicTimer(IdleReturn / 2, clock);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var idleSince = clock.GetUtcNow().UtcTicks - IdleReturn.Ticks;
                foreach (var (keyId, lease) in _leases)
                {
                    if (lease.IsIdleSince(idleSince))
                    {
                        await GiveBackAsync(keyId, lease, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: StopAsync gives everything back.
        }
    }

    /// <summary>Stops, then gives back every unit this instance holds (a graceful stop strands none).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        cache.KeyChanged -= ReturnNow;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (keyId, lease) in _leases)
        {
            await GiveBackAsync(keyId, lease, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A key changed (its notification): what this instance holds of it goes back, and the next use leases afresh.</summary>
    private void ReturnNow(long keyId)
    {
        if (_leases.TryGetValue(keyId, out var lease))
        {
            // Not on the notifying thread (the listener's loop, or a request about to answer).
            _ = Task.Run(() => GiveBackAsync(keyId, lease, CancellationToken.None));
        }
    }

    private async Task GiveBackAsync(long keyId, Lease lease, CancellationToken cancellationToken)
    {
        if (!await lease.Gate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            return; // a lease is in flight: it is not idle
        }

        try
        {
            if (lease.TakeAll() is not { Units: > 0 } held)
            {
                // Idle and empty: retired (under the gate, so no lease lands in it after this).
                lease.Retired = true;
                _leases.TryRemove(new KeyValuePair<long, Lease>(keyId, lease));
                return;
            }

            await database.RunAsync(UnitOfWorkMode.SingleStatement,
                unit => unit.Keys.GiveBackCreditsAsync(held.BudgetKeyId, held.Units, held.Epoch, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The units are lost: under-grant, never over-grant.
            LogGiveBackFailed(logger, keyId, error.GetType().Name);
        }
        finally
        {
            lease.Gate.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not give back the unused credits of key {KeyId} ({ErrorType}); they are lost to this period")]
    private static partial void LogGiveBackFailed(ILogger logger, long keyId, string errorType);

    /// <summary>This instance's share of one key's credits.</summary>
    private sealed class Lease(long knownRemaining)
    {
        private readonly Lock _lock = new();
        private long _balance;
        private long _databaseRemaining = knownRemaining;
        private long _budgetKeyId = -1;
        private int _epoch;
        private long _lastUsedTicks;

        /// <summary>One lease at a time per key and instance; give-backs take it too.</summary>
        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Set under <see cref="Gate"/> when the sweeper drops it: a request that finds it retired starts over.</summary>
        public bool Retired { get; set; }

        public bool TryTake(long cost, long nowTicks, out long remaining)
        {
            lock (_lock)
            {
                _lastUsedTicks = nowTicks;
                var granted = _balance >= cost;
                if (granted)
                {
                    _balance -= cost;
                }

                remaining = _databaseRemaining + _balance;
                return granted;
            }
        }

        public long Need(long cost)
        {
            lock (_lock)
            {
                return cost - _balance;
            }
        }

        public void Add(CreditLease lease, long nowTicks)
        {
            lock (_lock)
            {
                if (lease.KeyId != _budgetKeyId || lease.Epoch != _epoch)
                {
                    // Units of another budget (set outright since, or moved by a roll) are not this one's.
                    _balance = 0;
                }

                (_budgetKeyId, _epoch, _databaseRemaining) = (lease.KeyId, lease.Epoch, lease.Remaining);
                _balance += lease.Granted;
                _lastUsedTicks = nowTicks;
            }
        }

        public bool IsIdleSince(long ticks)
        {
            lock (_lock)
            {
                return _lastUsedTicks < ticks;
            }
        }

        /// <summary>Everything held, to give back; the balance is then 0.</summary>
        public (long Units, long BudgetKeyId, int Epoch) TakeAll()
        {
            lock (_lock)
            {
                var held = (_balance, _budgetKeyId, _epoch);
                _databaseRemaining += _balance;
                _balance = 0;
                return held;
            }
        }
    }
}
