using System.Collections.Concurrent;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Usage;

/// <summary>What a verification took from its key's rate limits: granted (each limit's state after it), or refused by one.</summary>
internal sealed record RateLimitOutcome(bool Granted, IReadOnlyList<RateLimitState> States, string? RefusedBy, DateTime? ResetAt)
{
    public static readonly RateLimitOutcome None = new(true, [], null, null);
}

/// <summary>
/// The rate limits of a budget's key and of users served from memory, within what the database allows: each window (aligned to the epoch in the
/// database's clock, so every instance agrees on it) hands out units through leases (<c>rate_limits/lease</c>: one upsert
/// per lease, serialised by its row lock), so all instances together never grant more than <c>limit</c> units a window.
/// Leases are at most the larger of a 32nd of the limit and an eighth of what is left, so what instances hold unused
/// when a window ends (lost with it) stays a few percent of the limit: a window under more demand than its limit grants
/// at least 90% of it. A verification refused by one limit (or by its credits) gives back what it took from the others.
/// </summary>
internal sealed class RateLimitLeases(UnitOfWorkRunner database, TimeProvider clock) : BackgroundService
{
    /// <summary>Rows of windows that ended longer ago than this are deleted.</summary>
    public static readonly TimeSpan KeepEndedWindows = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<(LimitOwner Owner, string Name), Window> _windows = new();

    /// <summary>Takes <paramref name="cost"/> units from every one of <paramref name="owner"/>'s rate limits (<paramref name="limits"/>), or from none.</summary>
    public async ValueTask<RateLimitOutcome> TakeAsync(LimitOwner owner, RateLimitRules limits, long cost, CancellationToken cancellationToken)
    {
        var rules = limits.Rules;
        if (rules.Count == 0)
        {
            return RateLimitOutcome.None;
        }

        var states = new RateLimitState[rules.Count];
        var taken = new (Window Window, long ResetTicks)[rules.Count];
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var window = _windows.GetOrAdd((owner, rule.Name), static _ => new Window());
            var (granted, remaining, resetAt) = await TakeAsync(owner, rule, window, cost, cancellationToken).ConfigureAwait(false);
            if (!granted)
            {
                Return(taken.AsSpan(0, i), cost);
                return new RateLimitOutcome(false, [], rule.Name, resetAt);
            }

            taken[i] = (window, resetAt.Ticks);
            states[i] = new RateLimitState(rule.Name, rule.Limit, remaining, resetAt, owner.Name);
        }

        return new RateLimitOutcome(true, states, null, null);
    }

    /// <summary>Gives back what <see cref="TakeAsync(LimitOwner, RateLimitRules, long, CancellationToken)"/> took (another limit refused the verification).</summary>
    public void GiveBack(LimitOwner owner, RateLimitOutcome outcome, long cost)
    {
        foreach (var state in outcome.States)
        {
            if (_windows.TryGetValue((owner, state.Name), out var window))
            {
                window.Return(cost, state.ResetAt.Ticks);
            }
        }
    }

    private static void Return(ReadOnlySpan<(Window Window, long ResetTicks)> taken, long cost)
    {
        foreach (var (window, resetTicks) in taken)
        {
            window.Return(cost, resetTicks);
        }
    }

    private async ValueTask<(bool Granted, long Remaining, DateTime ResetAt)> TakeAsync(
        LimitOwner owner, RateLimitRule rule, Window window, long cost, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcTicks;
        if (window.TryTake(cost, now, rule.Limit, out var remaining, out var resetAt))
        {
            return (true, remaining, resetAt);
        }

        if (window.IsExhausted(now, rule.Limit, cost))
        {
            // Refused from memory until the window ends (or the limit is raised): a refusal writes nothing.
            return (false, remaining, resetAt);
        }

        await window.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            now = clock.GetUtcNow().UtcTicks;
            if (window.TryTake(cost, now, rule.Limit, out remaining, out resetAt))
            {
                return (true, remaining, resetAt);
            }

            var need = window.Need(cost, now);
            var want = cost == 0 ? 0 : Math.Max(need, Math.Max(1, rule.Limit / 32));
            var lease = await database.RunOnceAsync(
                unit => owner.IsUser
                    ? unit.Users.LeaseRateLimitAsync(owner.Id, rule, need, want, cancellationToken)
                    : unit.Keys.LeaseRateLimitAsync(owner.Id, rule, need, want, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (lease is null)
            {
                // The key or user is gone, or its budget passed to another key, since it was cached: refuse (its
                // notification evicts it).
                return (false, 0, clock.GetUtcNow().UtcDateTime.AddSeconds(1));
            }

            window.Add(lease, rule.Limit);
            if (window.TryTake(cost, now, rule.Limit, out remaining, out resetAt))
            {
                return (true, remaining, resetAt);
            }

            window.MarkExhausted(rule.Limit, lease.Remaining);
            return (false, lease.Remaining, lease.ResetAt);
        }
        finally
        {
            window.Gate.Release();
        }
    }

    /// <summary>Every minute: forget windows that ended here, and delete the rows of windows that ended a minute ago.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(KeepEndedWindows, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = clock.GetUtcNow().UtcDateTime;
                foreach (var (id, window) in _windows)
                {
                    if (window.EndedBefore(now.Ticks))
                    {
                        _windows.TryRemove(new KeyValuePair<(LimitOwner, string), Window>(id, window));
                    }
                }

                try
                {
                    await database.RunAsync(UnitOfWorkMode.SingleStatement,
                        unit => unit.Keys.PurgeRateWindowsAsync(now - KeepEndedWindows, stoppingToken), stoppingToken).ConfigureAwait(false);
                }
                catch (Exception error) when (error is Npgsql.NpgsqlException or TimeoutException)
                {
                    // The next minute tries again; old rows only take space.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>This instance's share of one window of one rate limit of one key.</summary>
    private sealed class Window
    {
        private readonly Lock _lock = new();
        private long _resetTicks;
        private long _balance;
        private long _databaseRemaining;

        /// <summary>The limit the balance was leased under: a lower one drops it.</summary>
        private long _leasedUnder = long.MaxValue;

        /// <summary>The limit under which the database had too few units left in this window (0: not exhausted).</summary>
        private long _exhaustedUnder;

        public SemaphoreSlim Gate { get; } = new(1, 1);

        public bool TryTake(long cost, long nowTicks, long limit, out long remaining, out DateTime resetAt)
        {
            lock (_lock)
            {
                resetAt = new DateTime(_resetTicks, DateTimeKind.Utc);
                if (nowTicks >= _resetTicks || limit < _leasedUnder)
                {
                    // Ended (or never leased), or the limit was lowered since: what was held is lost with it.
                    _balance = 0;
                    remaining = nowTicks >= _resetTicks ? 0 : _databaseRemaining;
                    return false;
                }

                remaining = _databaseRemaining + _balance;
                if (_balance < cost)
                {
                    return false;
                }

                _balance -= cost;
                remaining -= cost;
                return true;
            }
        }

        public long Need(long cost, long nowTicks)
        {
            lock (_lock)
            {
                return nowTicks >= _resetTicks ? cost : Math.Max(0, cost - _balance);
            }
        }

        public void Add(RateLimitLease lease, long limit)
        {
            lock (_lock)
            {
                if (lease.ResetAt.Ticks != _resetTicks || limit < _leasedUnder)
                {
                    (_resetTicks, _balance, _exhaustedUnder) = (lease.ResetAt.Ticks, 0, 0);
                }

                _leasedUnder = limit;
                _balance += lease.Granted;
                _databaseRemaining = lease.Remaining;
            }
        }

        /// <summary>The database had fewer units than needed left in this window, under <paramref name="limit"/>.</summary>
        public void MarkExhausted(long limit, long databaseRemaining)
        {
            lock (_lock)
            {
                (_exhaustedUnder, _databaseRemaining) = (limit, databaseRemaining);
            }
        }

        /// <summary>
        /// Whether this window was found exhausted under a limit no lower than <paramref name="limit"/> and the database's
        /// count left too few for <paramref name="cost"/>: no units come back into a window, so until it ends the answer stays no.
        /// </summary>
        public bool IsExhausted(long nowTicks, long limit, long cost)
        {
            lock (_lock)
            {
                return nowTicks < _resetTicks && _exhaustedUnder > 0 && limit <= _exhaustedUnder && _databaseRemaining + _balance < cost;
            }
        }

        /// <summary>Units a refused verification took, back into the window they came from (if it has not ended).</summary>
        public void Return(long cost, long resetTicks)
        {
            lock (_lock)
            {
                if (resetTicks == _resetTicks)
                {
                    _balance += cost;
                }
            }
        }

        public bool EndedBefore(long ticks)
        {
            lock (_lock)
            {
                return _resetTicks < ticks;
            }
        }
    }
}
