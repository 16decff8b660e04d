using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Auth;

/// <summary>
/// Keys (with their users) by token hash, and tokens recently found unknown, so that authentication and
/// verification cost no database round trip in the common case. Revocation still wins:
/// <list type="bullet">
/// <item>database triggers announce every change to keys and users, however it is made (migration 0004);
/// <see cref="AuthCacheListener"/> evicts what they name, through an index (no scan of every entry);</item>
/// <item>the instance that makes a change also evicts right after its commit, before answering;</item>
/// <item>entries are served only while the listener has heard its own heartbeat within
/// <see cref="MaxSilence"/>: notifications arrive in commit order, so every change committed before that
/// heartbeat was sent has been applied. A pooler that drops LISTEN or a silent network break turns the
/// cache off within <see cref="MaxSilence"/>; a lost connection turns it off at once (with standby reads, for
/// all but stale reads: <see cref="Disconnected"/>);</item>
/// <item>a lookup that raced an eviction does not store what it read (a generation counter checked under
/// the same lock that evictions take), and nothing ever overwrites a cached row: the last-use time lives
/// beside it (<see cref="CachedKey"/>);</item>
/// <item>entries expire after 80-100% of <see cref="ServiceOptions.AuthCacheSeconds"/> (spread at random); a key in use is read
/// again in the background after 40-75% of it (<see cref="RenewalAge"/>), so that it rarely expires, and a renewal that reads
/// the same row extends the entry it has (<see cref="Renew"/>); the cache holds at most
/// <see cref="ServiceOptions.AuthCacheMaxEntries"/> keys and evicts (least recently used first) when full.</item>
/// </list>
/// </summary>
internal sealed class AuthCache : IDisposable
{
    /// <summary>How long the cache may go without hearing its own heartbeat before it stops serving.</summary>
    public static readonly TimeSpan MaxSilence = TimeSpan.FromSeconds(3);

    /// <summary>How long a token is remembered as unknown (a key inserted with it forgets it at once).</summary>
    public static readonly TimeSpan UnknownTtl = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _clock;
    private readonly object _gate = new();
    private readonly MemoryCache _keys;
    private readonly MemoryCache _unknown;
    private readonly MemoryCache _seenValid;
    private readonly Dictionary<long, CachedKey> _byKey = [];
    private readonly Dictionary<long, HashSet<CachedKey>> _byUser = [];

    /// <summary>Entries of keys that draw on another key's budget, by that key: a change of the budget's key evicts them.</summary>
    private readonly Dictionary<long, HashSet<CachedKey>> _byBudget = [];
    private readonly PostEvictionDelegate _onEvicted;
    /// <summary>
    /// Bumped under <see cref="_gate"/>: by <see cref="KeyEviction"/> for every eviction of keys or users (and a clear), by
    /// <see cref="KeyCreation"/> when a key is created. A key read from the database is kept only if no eviction ran since
    /// its lookup began (<see cref="NoEvictionSince"/>); a token found unknown only if nothing at all changed. A key created
    /// elsewhere says nothing about a key read meanwhile: counting it there discarded renewals and lookups for nothing
    /// wherever keys are created all the time.
    /// </summary>
    private long _generation;

    private const long KeyEviction = 1L << 32;
    private const long KeyCreation = 1;
    private volatile bool _listening;
    private volatile bool _connected;
    private long _heardTicks;

    private readonly ServiceMetrics? _metrics;

    /// <summary><see cref="ServiceOptions.ReadFromStandbys"/>: stale reads may ride through a failover (<see cref="Disconnected"/>).</summary>
    private readonly bool _readsFromStandbys;

    public AuthCache(TimeProvider clock, IOptions<ServiceOptions> options, ServiceMetrics? metrics = null)
    {
        _clock = clock;
        _metrics = metrics;
        _readsFromStandbys = options.Value.ReadFromStandbys;
        if (metrics is not null)
        {
            metrics.Meter.CreateObservableGauge("userkeys.auth_cache.entries", () => Count, "{entry}", "Keys held by the auth cache");
            metrics.Meter.CreateObservableGauge("userkeys.auth_cache.serving", () => Enabled ? 1 : 0, null,
                "1 while the auth cache serves (its listener heard its own heartbeat within 3 s), else 0");
            metrics.Meter.CreateObservableGauge("userkeys.listener.connected", () => _connected ? 1 : 0, null,
                "1 while the credential-change listener holds its connection and LISTENs, else 0");
        }

        Ttl = TimeSpan.FromSeconds(options.Value.AuthCacheSeconds);
        MaxEntries = options.Value.AuthCacheMaxEntries;
        _keys = new MemoryCache(new MemoryCacheOptions
        {
            Clock = new SystemClockAdapter(clock),
            SizeLimit = MaxEntries,
            CompactionPercentage = 0.1,
            ExpirationScanFrequency = TimeSpan.FromSeconds(5),
        });
        _unknown = new MemoryCache(new MemoryCacheOptions
        {
            Clock = new SystemClockAdapter(clock),
            SizeLimit = Math.Max(1, MaxEntries / 10),
            CompactionPercentage = 0.1,
            ExpirationScanFrequency = TimeSpan.FromSeconds(5),
        });
        _seenValid = new MemoryCache(new MemoryCacheOptions
        {
            Clock = new SystemClockAdapter(clock),
            SizeLimit = MaxEntries,
            CompactionPercentage = 0.1,
            ExpirationScanFrequency = TimeSpan.FromSeconds(5),
        });
        _onEvicted = OnEvicted;
    }

    public TimeSpan Ttl { get; }

    public int MaxEntries { get; }

    /// <summary>Whether the cache is configured on at all (AuthCacheSeconds &gt; 0).</summary>
    public bool Configured => Ttl > TimeSpan.Zero;

    /// <summary>Serving: configured, listening, and its own heartbeat heard within <see cref="MaxSilence"/>.</summary>
    public bool Enabled => _connected && ServingStaleReads;

    /// <summary>
    /// Serving the callers of stale reads (<see cref="AccessRule.StaleRead"/>): as <see cref="Enabled"/>, and, when reads go to
    /// standbys, also while the listener reconnects after a lost connection, until <see cref="MaxSilence"/> after the last
    /// heartbeat heard.
    /// </summary>
    public bool ServingStaleReads =>
        (_connected || _readsFromStandbys) && _listening && Configured && _clock.GetUtcNow().UtcTicks - Interlocked.Read(ref _heardTicks) <= MaxSilence.Ticks;

    public int Count => (int)_keys.Count;

    /// <summary>A key was changed or deleted (evicted by its id): what other in-memory state holds of it must go too.</summary>
    public event Action<long>? KeyChanged;

    /// <summary>A user was evicted (a change, or its deletion): its id. Raised outside the cache's lock.</summary>
    public event Action<long>? UserChanged;

    /// <summary>Read before a database lookup; pass to <see cref="Add"/> or <see cref="AddUnknown"/>.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    public bool TryGet(byte[] tokenHash, out CachedKey key) => TryGet(tokenHash, staleRead: false, out key);

    /// <summary>The cached key of this token; for a stale read (<paramref name="staleRead"/>) also while the listener reconnects.</summary>
    public bool TryGet(byte[] tokenHash, bool staleRead, out CachedKey key)
    {
        key = null!;
        var hit = (staleRead ? ServingStaleReads : Enabled) && _keys.TryGetValue(CacheKey(tokenHash), out key!);
        (hit ? _metrics?.CacheHits : _metrics?.CacheMisses)?.Add(1);
        return hit;
    }

    /// <summary>
    /// Whether this token was found to be a key's within <see cref="Ttl"/>, also while the cache is not serving (its
    /// listener not heard yet, or silent): never a verdict, only a reason to look the token up in the database rather
    /// than refuse it unread (a valid key is never throttled by its address). Knowing a token requires having had it.
    /// </summary>
    public bool HoldsToken(byte[] tokenHash) => _seenValid.TryGetValue(CacheKey(tokenHash), out _);

    /// <summary>Whether this token was looked up recently and no key had it.</summary>
    public bool IsKnownUnknown(byte[] tokenHash) => Enabled && _unknown.TryGetValue(CacheKey(tokenHash), out _);

    /// <summary>
    /// The entry for a row read from the database: cached, unless the cache is off or an eviction ran since
    /// <paramref name="generation"/> (what was read may be what it evicted); then an entry that is not kept.
    /// </summary>
    /// <remarks>
    /// For a renewal of <paramref name="renewed"/> (<see cref="CachedKey.TryClaimRenewal"/>), the new entry keeps the last
    /// use the old one knew of (this instance may not have written it yet).
    /// </remarks>
    public CachedKey Add(byte[] tokenHash, ApiKeyWithUserRow row, long generation, CachedKey? renewed = null)
    {
        var entry = new CachedKey(_clock, CacheKey(tokenHash), row with { Scopes = Scopes.Intern(row.Scopes) }, renewed);
        if (Configured)
        {
            SeenValid(entry);
        }

        if (!Enabled)
        {
            return entry;
        }

        lock (_gate)
        {
            if (!NoEvictionSince(generation))
            {
                return entry;
            }

            var now = _clock.GetUtcNow();
            entry.Keep(now + Lifetime(), now + RenewalAge());
            using (var cacheEntry = _keys.CreateEntry(entry.CacheKey))
            {
                cacheEntry.Value = entry;
                cacheEntry.Size = 1;
                // The entry is its own expiry (CachedKey.HasChanged): a renewal that reads the same row extends it in place.
                cacheEntry.ExpirationTokens.Add(entry);
                cacheEntry.RegisterPostEvictionCallback(_onEvicted, this);
            }

            _byKey[row.Id] = entry;
            if (!_byUser.TryGetValue(row.UserId, out var ofUser))
            {
                _byUser[row.UserId] = ofUser = [];
            }

            ofUser.Add(entry);
            if (row.IsDerived)
            {
                if (!_byBudget.TryGetValue(row.BudgetKeyId, out var ofBudget))
                {
                    _byBudget[row.BudgetKeyId] = ofBudget = [];
                }

                ofBudget.Add(entry);
            }
        }

        return entry;
    }

    /// <summary>
    /// A renewal of <paramref name="renewed"/> (<see cref="CachedKey.TryClaimRenewal"/>) read <paramref name="row"/>. The
    /// same row, but for its last use: the entry is kept for a new lifetime, in place, unless an eviction ran since
    /// <paramref name="generation"/> or it is no longer cached. Under load nearly every renewal reads the same row; a new
    /// entry each time left each old one (its row, its rendered answer) to die in gen2, where the collector reclaims
    /// memory only by compacting. A changed row makes a new entry (<see cref="Add"/>).
    /// </summary>
    /// <returns>False: nothing was kept (the caller lets a later request claim the renewal again).</returns>
    public bool Renew(byte[] tokenHash, ApiKeyWithUserRow row, long generation, CachedKey renewed)
    {
        if (!renewed.IsSameRow(row))
        {
            var entry = Add(tokenHash, row, generation, renewed);
            lock (_gate)
            {
                return _byKey.TryGetValue(row.Id, out var indexed) && ReferenceEquals(indexed, entry);
            }
        }

        if (!Enabled)
        {
            return false;
        }

        lock (_gate)
        {
            if (!NoEvictionSince(generation) || renewed.HasChanged
                || !_byKey.TryGetValue(row.Id, out var indexed) || !ReferenceEquals(indexed, renewed))
            {
                return false;
            }

            var now = _clock.GetUtcNow();
            renewed.Keep(now + Lifetime(), now + RenewalAge(), row.LastUsedAt);
        }

        SeenValid(renewed);
        return true;
    }

    /// <summary>No key or user was evicted since <paramref name="generation"/> (keys may have been created). Under <see cref="_gate"/>.</summary>
    private bool NoEvictionSince(long generation) => _generation >> 32 == generation >> 32;

    private void SeenValid(CachedKey entry) =>
        _seenValid.Set(entry.CacheKey, true, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = Ttl });

    /// <summary>
    /// How long a new entry lives: between 80% and 100% of <see cref="Ttl"/>, at random. Keys first used in the same
    /// second (a deploy, a burst) would otherwise all expire in the same second, every <see cref="Ttl"/>, and all
    /// wait on the database at once: a wave of 10,000 lookups through a pool of 4 connections stalled verify for
    /// 100-300 ms. Never longer than <see cref="Ttl"/>, so the bound on a missed notification holds.
    /// </summary>
    private TimeSpan Lifetime() => ShareOfTtl(0.8, 1.0);

    /// <summary>
    /// When a kept entry may be renewed ahead of its expiry: between 40% and 75% of <see cref="Ttl"/>, at random, so
    /// before the earliest expiry (80%). The first request that finds it due has it read again in the background
    /// (<see cref="KeyVerifier"/>) while the entry goes on answering: a key in use never waits on the database for its
    /// renewal. 10,000 keys expiring in the same few seconds otherwise sent 10,000 requests to the database, and held
    /// verify's p99 at 11-16 ms in those seconds.
    /// </summary>
    private TimeSpan RenewalAge() => ShareOfTtl(0.4, 0.75);

    /// <summary>A share of <see cref="Ttl"/> at random, at least <paramref name="from"/> and less than <paramref name="to"/>.</summary>
    private TimeSpan ShareOfTtl(double from, double to) =>
#pragma warning disable CA5394 // Spreading times, not a secret.
        Ttl * (from + ((to - from) * Random.Shared.NextDouble()));
#pragma warning restore CA5394

    /// <summary>Remembers that no key has this token, unless a key was created or evicted since <paramref name="generation"/>.</summary>
    public void AddUnknown(byte[] tokenHash, long generation)
    {
        if (!Enabled)
        {
            return;
        }

        lock (_gate)
        {
            if (_generation == generation)
            {
                _unknown.Set(CacheKey(tokenHash), true, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = UnknownTtl });
            }
        }
    }

    /// <summary>At most one clear a notification asks for in this time; more wait for its end (<see cref="ClearOnNotice"/>).</summary>
    public static readonly TimeSpan MinClearInterval = TimeSpan.FromSeconds(1);

    private long _lastNoticedClearTicks;
    private int _clearPending;

    /// <summary>Evicts what a notification payload names (<see cref="AuthChannel"/>); anything it does not know clears everything.</summary>
    public void Evict(string payload)
    {
        var colon = payload.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? payload : payload[..colon];
        if (kind == AuthChannel.Heartbeat)
        {
            // Some instance's heartbeat: its own listener reads it; it changes nothing here.
            return;
        }

        if (colon > 0 && long.TryParse(payload.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            switch (kind)
            {
                case AuthChannel.Key:
                    EvictKey(id);
                    return;
                case AuthChannel.KeyCreated:
                    ForgetUnknown();
                    return;
                case AuthChannel.User:
                    EvictUser(id);
                    return;
            }
        }

        ClearOnNotice();
    }

    /// <summary>
    /// A clear a notification asked for ('all': a TRUNCATE, or a payload nobody sends but a forger): at once, unless one
    /// ran less than <see cref="MinClearInterval"/> ago; then once, at the end of that interval. Any role that can connect
    /// may NOTIFY, so a loop of forged notifications empties the cache at most once a second; a real TRUNCATE is
    /// refused by every instance within that second (well within the bound of a silent listener).
    /// </summary>
    private void ClearOnNotice()
    {
        var now = _clock.GetUtcNow().UtcTicks;
        var last = Interlocked.Read(ref _lastNoticedClearTicks);
        if (now - last >= MinClearInterval.Ticks && Interlocked.CompareExchange(ref _lastNoticedClearTicks, now, last) == last)
        {
            Clear();
            return;
        }

        if (Interlocked.Exchange(ref _clearPending, 1) == 0)
        {
            // Never longer than the interval, whatever the clock did meanwhile.
            var wait = TimeSpan.FromTicks(Math.Clamp(last + MinClearInterval.Ticks - now, 0, MinClearInterval.Ticks));
            _ = Task.Delay(wait, _clock).ContinueWith(static (_, state) => ((AuthCache)state!).ClearPending(), this, TaskScheduler.Default);
        }
    }

    private void ClearPending()
    {
        Interlocked.Exchange(ref _lastNoticedClearTicks, _clock.GetUtcNow().UtcTicks);
        Volatile.Write(ref _clearPending, 0);
        Clear();
    }

    public void EvictKey(long keyId)
    {
        lock (_gate)
        {
            _generation += KeyEviction;
            if (_byKey.Remove(keyId, out var entry))
            {
                RemoveFromIndexes(entry);
                _keys.Remove(entry.CacheKey);
            }

            // The keys that draw on its budget show (and verify against) its limits.
            if (_byBudget.Remove(keyId, out var derived))
            {
                foreach (var dependant in derived)
                {
                    _byKey.Remove(dependant.Row.Id);
                    RemoveFromUser(dependant);
                    _keys.Remove(dependant.CacheKey);
                }
            }
        }

        KeyChanged?.Invoke(keyId);
    }

    public void EvictUser(long userId)
    {
        lock (_gate)
        {
            _generation += KeyEviction;
            if (_byUser.Remove(userId, out var entries))
            {
                foreach (var entry in entries)
                {
                    _byKey.Remove(entry.Row.Id);
                    RemoveFromBudget(entry);
                    _keys.Remove(entry.CacheKey);
                }
            }
        }

        UserChanged?.Invoke(userId);
    }

    /// <summary>A key was created: a token remembered as unknown may now be its token.</summary>
    public void ForgetUnknown()
    {
        lock (_gate)
        {
            _generation += KeyCreation;
            _unknown.Compact(1.0);
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _generation += KeyEviction;
            _byKey.Clear();
            _byUser.Clear();
            _byBudget.Clear();
            _keys.Compact(1.0);
            _unknown.Compact(1.0);
        }
    }

    /// <summary>Called by the listener: connected (everything cached before is dropped: notifications may have been missed) or lost.</summary>
    public void SetListening(bool listening)
    {
        _listening = listening;
        _connected = listening;
        // Serve again only once a heartbeat sent on this connection has come back.
        Interlocked.Exchange(ref _heardTicks, 0);
        // The generation bump also discards lookups in flight: they read before this point.
        Clear();
    }

    /// <summary>
    /// The listener lost its connection (the primary stopped, failed over, or the network broke). The cache stops serving
    /// at once, except, when reads go to standbys (<see cref="ServiceOptions.ReadFromStandbys"/>), to the callers of stale
    /// reads (listings and reads a standby answers): those it goes on serving until <see cref="MaxSilence"/> after the last
    /// heartbeat it heard, the bound it already keeps for a connection that silently stops delivering (every change
    /// committed before that heartbeat was sent has been applied). So a failover within that time interrupts no read
    /// from a standby; the reconnect clears the cache (<see cref="SetListening"/>), since notifications sent meanwhile
    /// are lost.
    /// </summary>
    public void Disconnected() => _connected = false;

    /// <summary>The listener received its own heartbeat, sent at <paramref name="sentAt"/>.</summary>
    public void Heard(DateTimeOffset sentAt)
    {
        var ticks = sentAt.UtcTicks;
        var seen = Interlocked.Read(ref _heardTicks);
        while (ticks > seen)
        {
            var previous = Interlocked.CompareExchange(ref _heardTicks, ticks, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    public void Dispose()
    {
        _keys.Dispose();
        _unknown.Dispose();
        _seenValid.Dispose();
    }

    // Expired, replaced, compacted or removed: drop the index entries that still point at this entry
    // (the index may already point at a newer entry for the same key, which must stay findable).
    private static void OnEvicted(object key, object? value, EvictionReason reason, object? state)
    {
        if (value is not CachedKey entry || state is not AuthCache cache)
        {
            return;
        }

        cache._metrics?.CacheEvictions.Add(1, new KeyValuePair<string, object?>("reason", reason switch
        {
            EvictionReason.Capacity => "capacity",
            EvictionReason.Expired or EvictionReason.TokenExpired => "expired",
            EvictionReason.Replaced => "replaced",
            _ => "changed",
        }));

        lock (cache._gate)
        {
            if (cache._byKey.TryGetValue(entry.Row.Id, out var indexed) && ReferenceEquals(indexed, entry))
            {
                cache._byKey.Remove(entry.Row.Id);
            }

            cache.RemoveFromIndexes(entry);
        }
    }

    private void RemoveFromIndexes(CachedKey entry)
    {
        RemoveFromUser(entry);
        RemoveFromBudget(entry);
    }

    private void RemoveFromUser(CachedKey entry)
    {
        if (_byUser.TryGetValue(entry.Row.UserId, out var ofUser) && ofUser.Remove(entry) && ofUser.Count == 0)
        {
            _byUser.Remove(entry.Row.UserId);
        }
    }

    private void RemoveFromBudget(CachedKey entry)
    {
        if (entry.Row.IsDerived && _byBudget.TryGetValue(entry.Row.BudgetKeyId, out var ofBudget) && ofBudget.Remove(entry) && ofBudget.Count == 0)
        {
            _byBudget.Remove(entry.Row.BudgetKeyId);
        }
    }

    private static string CacheKey(byte[] tokenHash) => Convert.ToBase64String(tokenHash);

    private sealed class SystemClockAdapter(TimeProvider clock) : Microsoft.Extensions.Internal.ISystemClock
    {
        public DateTimeOffset UtcNow => clock.GetUtcNow();
    }
}

/// <summary>
/// A cached key and its user as read from the database, never changed afterwards, plus the time this
/// instance last recorded a use of it (kept beside the row, so recording a use never writes a row back).
/// Also the expiry of its cache entry (<see cref="IChangeToken"/>: changed once expired), which a renewal that read the
/// same row moves on (<see cref="AuthCache.Renew"/>).
/// </summary>
internal sealed class CachedKey(TimeProvider clock, string cacheKey, ApiKeyWithUserRow row, CachedKey? renewed = null) : IChangeToken
{
    private long _lastUsedTicks = Math.Max(row.LastUsedAt?.Ticks ?? 0, renewed is null ? 0 : Interlocked.Read(ref renewed._lastUsedTicks));
    private Snapshot _snapshot = new(row.LastUsedAt?.Ticks ?? 0, row);

    /// <summary>Not before this may it be renewed (UTC ticks); never for an entry the cache did not keep.</summary>
    private long _renewAfterTicks = long.MaxValue;

    /// <summary>From this time on (UTC ticks) the cache no longer serves it.</summary>
    private long _expiresAtTicks = long.MaxValue;

    private int _renewing;

    public string CacheKey { get; } = cacheKey;

    public ApiKeyWithUserRow Row { get; } = row;

    /// <summary>The row with the latest use this instance knows of.</summary>
    public ApiKeyWithUserRow Current => Latest().Row;

    /// <summary>
    /// What <paramref name="render"/> makes of <see cref="Current"/> (a verify answer's bytes), made once per
    /// version of the row: a new recorded use makes a new version.
    /// </summary>
    public byte[] Rendered(Func<ApiKeyWithUserRow, byte[]> render)
    {
        var snapshot = Latest();
        return Volatile.Read(ref snapshot.Rendered) ?? Interlocked.CompareExchange(ref snapshot.Rendered, render(snapshot.Row), null) ?? snapshot.Rendered!;
    }

    private Snapshot Latest()
    {
        var ticks = Interlocked.Read(ref _lastUsedTicks);
        var snapshot = Volatile.Read(ref _snapshot);
        if (snapshot.Ticks == ticks)
        {
            return snapshot;
        }

        snapshot = new Snapshot(ticks, ticks == 0 || ticks == (Row.LastUsedAt?.Ticks ?? 0)
            ? Row
            : Row with { LastUsedAt = new DateTime(ticks, DateTimeKind.Utc) });
        Volatile.Write(ref _snapshot, snapshot);
        return snapshot;
    }

    private sealed class Snapshot(long ticks, ApiKeyWithUserRow row)
    {
        public long Ticks { get; } = ticks;

        public ApiKeyWithUserRow Row { get; } = row;

        public byte[]? Rendered;
    }

    /// <summary>Expired: the cache drops it (when it is next asked for, or by its scan).</summary>
    public bool HasChanged => clock.GetUtcNow().UtcTicks >= Volatile.Read(ref _expiresAtTicks);

    bool IChangeToken.ActiveChangeCallbacks => false;

    /// <summary>Never called: the cache asks <see cref="HasChanged"/> (no active callbacks).</summary>
    IDisposable IChangeToken.RegisterChangeCallback(Action<object?> callback, object? state) => NoCallback.Instance;

    private sealed class NoCallback : IDisposable
    {
        public static readonly NoCallback Instance = new();

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// Kept by the cache (or kept again by a renewal that read the same row, with the last use it read): served until
    /// <paramref name="expiresAt"/>, renewed from <paramref name="renewAfter"/> on.
    /// </summary>
    internal void Keep(DateTimeOffset expiresAt, DateTimeOffset renewAfter, DateTime? lastUsedAt = null)
    {
        var read = lastUsedAt?.Ticks ?? 0;
        var seen = Interlocked.Read(ref _lastUsedTicks);
        while (read > seen && Interlocked.CompareExchange(ref _lastUsedTicks, read, seen) is var previous && previous != seen)
        {
            seen = previous;
        }

        Volatile.Write(ref _expiresAtTicks, expiresAt.UtcTicks);
        Volatile.Write(ref _renewAfterTicks, renewAfter.UtcTicks);
        Volatile.Write(ref _renewing, 0);
    }

    /// <summary>Whether <paramref name="read"/> is this key's row as read again: the same in everything but its last use.</summary>
    public bool IsSameRow(ApiKeyWithUserRow read) =>
        read.Scopes.AsSpan().SequenceEqual(Row.Scopes)
        && read.Permissions.AsSpan().SequenceEqual(Row.Permissions)
        && read.RateLimits.Rules.SequenceEqual(Row.RateLimits.Rules)
        // The record's own equality covers every other column, including any added later.
        && Row.Equals(read with { LastUsedAt = Row.LastUsedAt, Scopes = Row.Scopes, Permissions = Row.Permissions, RateLimits = Row.RateLimits });

    /// <summary>True for exactly one caller once the entry is due for renewal (until <see cref="RenewalFailed"/>): that caller renews it.</summary>
    public bool TryClaimRenewal(DateTimeOffset now) =>
        now.UtcTicks >= Volatile.Read(ref _renewAfterTicks) && Interlocked.Exchange(ref _renewing, 1) == 0;

    /// <summary>The renewal did not happen (no slot, or the lookup failed): a later request may try again.</summary>
    public void RenewalFailed() => Volatile.Write(ref _renewing, 0);

    /// <summary>
    /// True for exactly one caller once the last use this instance knows of is older than <paramref name="resolution"/>:
    /// that caller has the use recorded (<see cref="LastUseRecorder"/>). From then on the key shows <paramref name="now"/>
    /// as its last use.
    /// </summary>
    public bool TryClaimUse(DateTime now, TimeSpan resolution)
    {
        var seen = Interlocked.Read(ref _lastUsedTicks);
        return seen < (now - resolution).Ticks && Interlocked.CompareExchange(ref _lastUsedTicks, now.Ticks, seen) == seen;
    }
}
