using System.Collections.Concurrent;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Auth;

/// <summary>
/// Verified keys (with their users) by token hash, so that authentication and verification cost no
/// database round trip in the common case. Revocation still wins:
/// <list type="bullet">
/// <item>the instance that changes a key or user evicts it right after its transaction commits, before answering;</item>
/// <item>every instance evicts on the PostgreSQL notification that the same transaction sent (<see cref="AuthCacheListener"/>);</item>
/// <item>the cache serves only while that listener is connected, and is cleared whenever it (re)connects,
/// so a notification missed while disconnected cannot leave a stale entry;</item>
/// <item>a lookup that raced an eviction does not re-insert what it read (a generation counter);</item>
/// <item>entries expire after <see cref="ServiceTtl"/> whatever happens.</item>
/// </list>
/// </summary>
internal sealed class AuthCache(TimeProvider clock)
{
    public const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _generation;
    private volatile bool _enabled;

    /// <summary>How long an entry may be served; zero turns the cache off.</summary>
    public TimeSpan ServiceTtl { get; set; } = TimeSpan.FromSeconds(30);

    public bool Enabled => _enabled && ServiceTtl > TimeSpan.Zero;

    public int Count => _entries.Count;

    /// <summary>Read before a database lookup; pass to <see cref="Add"/>.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    public bool TryGet(byte[] tokenHash, out ApiKeyWithUserRow key)
    {
        key = null!;
        if (!Enabled || !_entries.TryGetValue(Key(tokenHash), out var entry))
        {
            return false;
        }

        if (entry.ExpiresAt <= clock.GetUtcNow())
        {
            _entries.TryRemove(new KeyValuePair<string, Entry>(Key(tokenHash), entry));
            return false;
        }

        key = entry.Key;
        return true;
    }

    /// <summary>Caches a row read from the database, unless an eviction happened since <paramref name="generation"/>.</summary>
    public void Add(byte[] tokenHash, ApiKeyWithUserRow key, long generation)
    {
        if (!Enabled || _entries.Count >= MaxEntries)
        {
            return;
        }

        _entries[Key(tokenHash)] = new Entry(key, clock.GetUtcNow() + ServiceTtl);
        if (Generation != generation)
        {
            // An eviction ran while we read: what we read may be what it evicted.
            _entries.TryRemove(Key(tokenHash), out _);
        }
    }

    /// <summary>Replaces a cached row (e.g. its new last_used_at), keeping its expiry.</summary>
    public void Update(byte[] tokenHash, ApiKeyWithUserRow key)
    {
        var id = Key(tokenHash);
        if (_entries.TryGetValue(id, out var entry) && entry.Key.Id == key.Id)
        {
            _entries.TryUpdate(id, entry with { Key = key }, entry);
        }
    }

    public void EvictKey(long keyId) => Evict(entry => entry.Key.Id == keyId);

    public void EvictUser(long userId) => Evict(entry => entry.Key.UserId == userId);

    /// <summary>Evicts what a notification payload ("key:7", "user:3") names; anything else clears the cache.</summary>
    public void Evict(string payload)
    {
        var colon = payload.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && long.TryParse(payload.AsSpan(colon + 1), out var id))
        {
            switch (payload[..colon])
            {
                case "key":
                    EvictKey(id);
                    return;
                case "user":
                    EvictUser(id);
                    return;
            }
        }

        Clear();
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }

    /// <summary>Called by the listener: serve from the cache only while notifications can reach it.</summary>
    public void SetListening(bool listening)
    {
        _enabled = listening;
        // The generation bump also discards lookups in flight: they read before this point.
        Clear();
    }

    private void Evict(Func<Entry, bool> match)
    {
        Interlocked.Increment(ref _generation);
        foreach (var pair in _entries)
        {
            if (match(pair.Value))
            {
                _entries.TryRemove(pair);
            }
        }
    }

    private static string Key(byte[] tokenHash) => Convert.ToBase64String(tokenHash);

    private sealed record Entry(ApiKeyWithUserRow Key, DateTimeOffset ExpiresAt);
}
