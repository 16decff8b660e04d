using System.Collections.Concurrent;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Usage;

/// <summary>Whose usage limits: a budget's key (<see cref="ApiKeyRow.BudgetKeyId"/>), or a user.</summary>
internal readonly record struct LimitOwner(long Id, bool IsUser)
{
    public static LimitOwner Key(long budgetKeyId) => new(budgetKeyId, false);

    public static LimitOwner User(long userId) => new(userId, true);

    /// <summary>What the verify answer's rate limit states say they apply to.</summary>
    public string Name => IsUser ? "user" : "key";
}

/// <summary>
/// Credits (the <c>remaining</c> of a budget's key, or of a user) served from memory, exactly: the database is the source of truth, and this
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

    /// <summary>
    /// Units held this long go back too, busy or not: the next use leases again, under the budget as it is now, so a budget
    /// an admin lowered binds every instance within this time even when its notification does not reach one.
    /// </summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromSeconds(1);

    /// <summary>How long a budget found exhausted is refused from memory before a read (no write) asks again.</summary>
    public static readonly TimeSpan ExhaustedRecheck = TimeSpan.FromSeconds(1);

    /// <summary>How long an exhausted budget nobody asks for is remembered as such.</summary>
    public static readonly TimeSpan KeepExhausted = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<LimitOwner, Lease> _leases = new();

    /// <summary>
    /// Takes <paramref name="cost"/> units of <paramref name="owner"/>'s credits (<paramref name="knownRemaining"/>: what
    /// its row said when read): granted, with what is left as this instance knows it (the database's count at its last
    /// lease, plus what it holds) and the credit epoch they came from (for <see cref="Return"/>), or refused with nothing
    /// taken. A cost of 0 takes nothing and is always granted.
    /// </summary>
    public async ValueTask<CreditsTaken> TakeAsync(LimitOwner owner, long knownRemaining, long cost, CancellationToken cancellationToken)
    {
        while (true)
        {
            var lease = _leases.GetOrAdd(owner, static (_, remaining) => new Lease(remaining), knownRemaining);
            if (await TakeAsync(owner, lease, cost, cancellationToken).ConfigureAwait(false) is { } outcome)
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// Puts back what <see cref="TakeAsync(LimitOwner, long, long, CancellationToken)"/> granted, when another limit refused
    /// the verification; units of an epoch that has ended since are not put back.
    /// </summary>
    public void Return(LimitOwner owner, CreditsTaken taken, long cost)
    {
        if (_leases.TryGetValue(owner, out var lease))
        {
            lease.Return(cost, taken.Epoch);
        }
    }

    /// <summary>Null when the sweeper retired <paramref name="lease"/> meanwhile: take from the current one instead.</summary>
    private async ValueTask<CreditsTaken?> TakeAsync(LimitOwner owner, Lease lease, long cost, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcTicks;
        if (lease.TryTake(cost, now, out var remaining, out var epoch))
        {
            return new CreditsTaken(true, remaining, epoch);
        }

        await lease.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (lease.Retired)
            {
                return null;
            }

            // Another request may have leased while this one waited.
            if (lease.TryTake(cost, now, out remaining, out epoch))
            {
                return new CreditsTaken(true, remaining, epoch);
            }

            var need = lease.Need(cost);
            if (lease.IsExhausted && lease.Remaining < cost)
            {
                // Refused verifications of an exhausted budget write nothing: from memory (what the last lease said was
                // left does not cover this cost), then a read a second.
                if (now - lease.ExhaustedAtTicks < ExhaustedRecheck.Ticks)
                {
                    return new CreditsTaken(false, lease.Remaining, epoch);
                }

                var available = await database.RunAsync(UnitOfWorkMode.SingleStatement,
                    unit => owner.IsUser
                        ? unit.Users.AvailableCreditsAsync(owner.Id, cancellationToken)
                        : unit.Keys.AvailableCreditsAsync(owner.Id, cancellationToken), cancellationToken).ConfigureAwait(false);
                if (available is null || available < need)
                {
                    lease.MarkExhausted(now);
                    return new CreditsTaken(false, lease.Remaining, epoch);
                }
            }

            var want = Math.Max(need, PreferredLease);
            var leased = await database.RunOnceAsync(
                unit => owner.IsUser
                    ? unit.Users.LeaseCreditsAsync(owner.Id, need, want, cancellationToken)
                    : unit.Keys.LeaseCreditsAsync(owner.Id, need, want, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (leased is null)
            {
                // Gone, or no longer limited, since it was cached: the notification evicts it; refuse this once.
                return new CreditsTaken(false, 0, 0);
            }

            lease.Add(leased, now);
            var granted = lease.TryTake(cost, now, out remaining, out epoch);
            if (!granted)
            {
                lease.MarkExhausted(now);
            }

            return new CreditsTaken(granted, remaining, epoch);
        }
        finally
        {
            lease.Gate.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        cache.KeyChanged += ReturnKeyNow;
        cache.UserChanged += ReturnUserNow;
        try
        {
            using var timer = new PeriodicTimer(IdleReturn / 2, clock);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = clock.GetUtcNow().UtcTicks;
                foreach (var (owner, lease) in _leases)
                {
                    if (lease.IsIdleSince(now - IdleReturn.Ticks) || lease.LeasedBefore(now - MaxHold.Ticks))
                    {
                        await GiveBackAsync(owner, lease, stoppingToken).ConfigureAwait(false);
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
        cache.KeyChanged -= ReturnKeyNow;
        cache.UserChanged -= ReturnUserNow;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (owner, lease) in _leases)
        {
            await GiveBackAsync(owner, lease, cancellationToken).ConfigureAwait(false);
        }
    }

    private void ReturnKeyNow(long keyId) => ReturnNow(LimitOwner.Key(keyId));

    private void ReturnUserNow(long userId) => ReturnNow(LimitOwner.User(userId));

    /// <summary>A key or user changed (its notification): what this instance holds of it goes back, and the next use leases afresh.</summary>
    private void ReturnNow(LimitOwner owner)
    {
        if (_leases.TryGetValue(owner, out var lease))
        {
            // The budget changed: what was exhausted may not be any more.
            lease.MarkExhausted(-1);
            // Not on the notifying thread (the listener's loop, or a request about to answer).
            _ = Task.Run(() => GiveBackAsync(owner, lease, CancellationToken.None));
        }
    }

    private async Task GiveBackAsync(LimitOwner owner, Lease lease, CancellationToken cancellationToken)
    {
        if (!await lease.Gate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            return; // a lease is in flight: it is not idle
        }

        try
        {
            if (lease.TakeAll() is not { Units: > 0 } held)
            {
                if (lease.IsExhausted && !lease.IsIdleSince(clock.GetUtcNow().UtcTicks - KeepExhausted.Ticks))
                {
                    // Kept: its next refusal comes from memory, not from a lease that writes.
                    return;
                }

                // Idle and empty: retired (under the gate, so no lease lands in it after this).
                lease.Retired = true;
                _leases.TryRemove(new KeyValuePair<LimitOwner, Lease>(owner, lease));
                return;
            }

            // One id for every attempt: a retry after an ambiguous failure hands back nothing twice.
            var operation = Guid.CreateVersion7();
            await database.RunAsync(UnitOfWorkMode.SingleStatement,
                unit => owner.IsUser
                    ? unit.Users.GiveBackCreditsAsync(owner.Id, held.Units, held.Epoch, operation, cancellationToken)
                    : unit.Keys.GiveBackCreditsAsync(owner.Id, held.Units, held.Epoch, operation, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The units are lost: under-grant, never over-grant.
            LogGiveBackFailed(logger, owner.Name, owner.Id, error.GetType().Name);
        }
        finally
        {
            lease.Gate.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not give back the unused credits of {Owner} {OwnerId} ({ErrorType}); they are lost to this period")]
    private static partial void LogGiveBackFailed(ILogger logger, string owner, long ownerId, string errorType);

    /// <summary>This instance's share of one key's or user's credits.</summary>
    private sealed class Lease(long knownRemaining)
    {
        private readonly Lock _lock = new();
        private long _balance;
        private long _databaseRemaining = knownRemaining;
        private int _epoch = -1;
        private long _lastUsedTicks;
        private long _leasedTicks = long.MaxValue;
        private long _exhaustedAtTicks = -1;

        /// <summary>One lease at a time per key and instance; give-backs take it too.</summary>
        public SemaphoreSlim Gate { get; } = new(1, 1);

        /// <summary>Set under <see cref="Gate"/> when the sweeper drops it: a request that finds it retired starts over.</summary>
        public bool Retired { get; set; }

        public bool TryTake(long cost, long nowTicks, out long remaining, out int epoch)
        {
            lock (_lock)
            {
                _lastUsedTicks = nowTicks;
                epoch = _epoch;
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
                if (lease.Epoch != _epoch)
                {
                    // Units of another budget (set outright since) are not this one's.
                    _balance = 0;
                }

                (_epoch, _databaseRemaining) = (lease.Epoch, lease.Remaining);
                _balance += lease.Granted;
                _lastUsedTicks = nowTicks;
                if (lease.Granted > 0)
                {
                    _leasedTicks = Math.Min(_leasedTicks, nowTicks);
                    _exhaustedAtTicks = -1;
                }
            }
        }

        public bool IsIdleSince(long ticks)
        {
            lock (_lock)
            {
                return _lastUsedTicks < ticks;
            }
        }

        /// <summary>Whether it holds units leased before <paramref name="ticks"/>.</summary>
        public bool LeasedBefore(long ticks)
        {
            lock (_lock)
            {
                return _balance > 0 && _leasedTicks < ticks;
            }
        }

        /// <summary>Whether the database had fewer units than a verification needed (until units are leased again).</summary>
        public bool IsExhausted => Volatile.Read(ref _exhaustedAtTicks) >= 0;

        public long ExhaustedAtTicks => Volatile.Read(ref _exhaustedAtTicks);

        public void MarkExhausted(long nowTicks) => Volatile.Write(ref _exhaustedAtTicks, nowTicks);

        /// <summary>What is left as this instance knows it: the database's count at the last lease, plus what it holds.</summary>
        public long Remaining
        {
            get
            {
                lock (_lock)
                {
                    return _databaseRemaining + _balance;
                }
            }
        }

        /// <summary>Units granted from <paramref name="epoch"/> back into the balance, unless the budget changed since.</summary>
        public void Return(long cost, int epoch)
        {
            lock (_lock)
            {
                if (epoch == _epoch)
                {
                    _balance += cost;
                }
            }
        }

        /// <summary>Everything held, to give back; the balance is then 0.</summary>
        public (long Units, int Epoch) TakeAll()
        {
            lock (_lock)
            {
                var held = (_balance, _epoch);
                _databaseRemaining += _balance;
                _balance = 0;
                _leasedTicks = long.MaxValue;
                return held;
            }
        }
    }
}

/// <summary>What <see cref="CreditLeases.TakeAsync(LimitOwner, long, long, CancellationToken)"/> did: granted or not, what is left, and from which credit epoch.</summary>
internal readonly record struct CreditsTaken(bool Granted, long Remaining, int Epoch);
