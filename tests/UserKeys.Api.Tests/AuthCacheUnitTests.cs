using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Keys;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>A clock the test moves by hand (no waiting for time to pass).</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A key store whose every answer the test decides, and may hold back to force an interleaving.</summary>
internal sealed class ScriptedKeyStore : IKeyStore
{
    private int _finds;

    public Func<Task<ApiKeyWithUserRow?>> OnFind { get; set; } = () => Task.FromResult<ApiKeyWithUserRow?>(null);

    public int Finds => Volatile.Read(ref _finds);

    public Task<ApiKeyWithUserRow?> FindAsync(byte[] tokenHash, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _finds);
        return OnFind();
    }

    /// <summary>A renewal's read: <see cref="OnFind"/>'s answer, for the ids asked for (one read, however many keys).</summary>
    public async Task<IReadOnlyList<ApiKeyWithUserRow>> FindManyAsync(long[] ids, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _finds);
        Interlocked.Exchange(ref _lastBatch, ids);
        if (ById is { } byId)
        {
            return [.. ids.Select(byId).OfType<ApiKeyWithUserRow>()];
        }

        var rows = new List<ApiKeyWithUserRow>();
        foreach (var id in ids)
        {
            if (await OnFind() is { } row && row.Id == id)
            {
                rows.Add(row);
            }
        }

        return rows;
    }

    private long[] _lastBatch = [];

    /// <summary>When set, what a renewal's read finds for each id (instead of <see cref="OnFind"/>).</summary>
    public Func<long, ApiKeyWithUserRow?>? ById { get; set; }

    /// <summary>The ids of the last renewal read.</summary>
    public long[] LastBatch => Volatile.Read(ref _lastBatch);
}

/// <summary>
/// The auth cache and the verifier without a database: interleavings forced step by step, bounds checked
/// with a hand-moved clock.
/// </summary>
public sealed class AuthCacheUnitTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly ScriptedKeyStore _store = new();
    private readonly AuthCache _cache;
    private readonly KeyVerifier _verifier;
    private readonly LastUseRecorder _lastUse;
    private readonly IssuedToken _token = ApiToken.Generate();

    public AuthCacheUnitTests()
    {
        var options = Options.Create(new ServiceOptions { AuthCacheSeconds = 30, AuthCacheMaxEntries = 100 });
        _cache = new AuthCache(_clock, options);
        _cache.SetListening(true);
        _cache.Heard(_clock.GetUtcNow());
        // Counting and noting uses is in memory; this database is never reached (nothing flushes in these tests).
        var unreachable = Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Port=1");
        var runner = new UnitOfWorkRunner(unreachable, new Data.UnitOfWorkFactory(unreachable), NullLogger<UnitOfWorkRunner>.Instance);
        var usage = new Usage.UsageCounter(runner, _clock, options, NullLogger<Usage.UsageCounter>.Instance);
        _lastUse = new LastUseRecorder(runner, _clock, NullLogger<LastUseRecorder>.Instance);
        _verifier = new KeyVerifier(_store, _cache, new FailureLimiter(options), usage, _lastUse, _clock);
    }

    private ApiKeyWithUserRow Row(long id = 7, DateTime? revokedAt = null, long userId = 3) => new()
    {
        Id = id, UserId = userId, Prefix = "uk_test", CreatedAt = _clock.GetUtcNow().UtcDateTime.AddDays(-1), RevokedAt = revokedAt,
        LastUsedAt = null, Scopes = Scopes.All, UserEmail = "ada@example.com", UserRole = "member", UserCreatedAt = _clock.GetUtcNow().UtcDateTime.AddDays(-2),
    };

    /// <summary>A request whose lookup has begun and is held: the request, and the lookup's answer for the test to give.</summary>
    private async Task<(Task<Verification> Request, TaskCompletionSource<ApiKeyWithUserRow?> Held)> LookupHeld()
    {
        var started = new TaskCompletionSource();
        var held = new TaskCompletionSource<ApiKeyWithUserRow?>();
        _store.OnFind = () => { started.TrySetResult(); return held.Task; };
        var request = _verifier.VerifyAsync(_token.Token, null, CancellationToken.None);
        await started.Task;
        return (request, held);
    }

    [Fact]
    public async Task A_lookup_that_read_before_a_revoke_cannot_put_its_row_back_after_the_eviction()
    {
        // Request A reads the key before the revoke commits, and is held there.
        var (requestA, held) = await LookupHeld();

        // The revoke commits; its notification evicts; request B reads the revoked row and caches it.
        _cache.Evict("key:7");
        var revoked = Row(revokedAt: _clock.GetUtcNow().UtcDateTime);
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(revoked);
        Assert.Equal(Verification.Revoked, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Reason);

        // A resumes with what it read before the revoke.
        held.SetResult(Row());
        Assert.True((await requestA).Valid);

        // Every later request sees the revoked row, from the cache (no lookup).
        var finds = _store.Finds;
        Assert.Equal(Verification.Revoked, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Reason);
        Assert.Equal(finds, _store.Finds);
    }

    [Fact]
    public async Task A_key_created_while_another_key_is_read_does_not_discard_what_was_read()
    {
        var (request, held) = await LookupHeld();

        // Some key is created meanwhile (its notification), then the read completes: the key is kept all the same.
        _cache.Evict("key_created:99");
        held.SetResult(Row());
        Assert.True((await request).Valid);
        Assert.True(_cache.TryGet(ApiToken.Hash(_token.Token), out _));
        Assert.Equal(1, _store.Finds);
    }

    [Fact]
    public async Task A_use_is_noted_for_the_recorder_at_most_once_a_minute_and_shows_at_once_without_waiting_for_it()
    {
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(Row());
        var firstUse = _clock.GetUtcNow().UtcDateTime;

        // The first use is noted, and answered with it as the key's last use (no database write on the way).
        Assert.Equal(firstUse, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Key!.LastUsedAt);
        Assert.Equal(1, _lastUse.Pending);

        // Within the minute: the same last use, from the cache (no second lookup); a minute later: the new one.
        // 11 s: before the earliest renewal (40% of 30 s), which would read the key again in the background.
        _clock.Advance(TimeSpan.FromSeconds(11));
        _cache.Heard(_clock.GetUtcNow()); // the listener is alive: the cache serves
        Assert.Equal(firstUse, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Key!.LastUsedAt);
        Assert.Equal(1, _store.Finds);
        _clock.Advance(TimeSpan.FromSeconds(50));
        _cache.Heard(_clock.GetUtcNow());
        Assert.Equal(firstUse.AddSeconds(61), (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Key!.LastUsedAt);
        Assert.Equal(1, _lastUse.Pending); // one key: its latest use
    }

    /// <summary>
    /// The key is cached, then due for renewal (23 s: 40-75% of the 30 s) but not expired (80-100%): a request is
    /// answered from the cache while the renewal's lookup is held; the request's answer, and the lookup to complete.
    /// </summary>
    private async Task<(Verification Answer, TaskCompletionSource<ApiKeyWithUserRow?> Read)> RenewalHeldWhileTheKeyAnswers()
    {
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(Row());
        Assert.True((await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Valid);
        _clock.Advance(TimeSpan.FromSeconds(23));
        _cache.Heard(_clock.GetUtcNow());
        var renewing = new TaskCompletionSource();
        var read = new TaskCompletionSource<ApiKeyWithUserRow?>();
        _store.OnFind = () => { renewing.TrySetResult(); return read.Task; };
        var answer = await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None);
        await renewing.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return (answer, read);
    }

    [Fact]
    public async Task A_key_in_use_is_read_again_in_the_background_before_it_expires_and_answers_meanwhile()
    {
        var hash = ApiToken.Hash(_token.Token);
        var (answer, read) = await RenewalHeldWhileTheKeyAnswers();
        Assert.Null(answer.Key!.Name);
        Assert.Equal(2, _store.Finds);

        read.SetResult(Row() with { Name = "renewed" });
        var (renewed, _) = await Poll.UntilAsync(
            () => Task.FromResult(_cache.TryGet(hash, out var entry) ? entry.Row.Name : null), name => name == "renewed", TimeSpan.FromSeconds(10));
        Assert.Equal("renewed", renewed);

        // Past the old entry's latest expiry: the renewed entry answers, no lookup on the way; the last use carried over.
        _clock.Advance(TimeSpan.FromSeconds(8));
        _cache.Heard(_clock.GetUtcNow());
        var later = await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None);
        Assert.Equal("renewed", later.Key!.Name);
        Assert.Equal(answer.Key.LastUsedAt, later.Key.LastUsedAt);
        Assert.Equal(2, _store.Finds);
    }

    private static ApiKeyWithUserRow ReadAgain(ApiKeyWithUserRow row) =>
        row with { Scopes = [.. row.Scopes], Permissions = [.. row.Permissions], RateLimits = new RateLimitRules([.. row.RateLimits.Rules]) };

    [Fact]
    public async Task A_renewal_that_reads_the_same_row_keeps_the_entry_in_place_for_a_new_lifetime()
    {
        var hash = ApiToken.Hash(_token.Token);
        var (answer, read) = await RenewalHeldWhileTheKeyAnswers();

        // The same row (read again: new arrays), but another instance recorded a use 10 s after this one's.
        var usedElsewhere = answer.Key!.LastUsedAt!.Value.AddSeconds(10);
        read.SetResult(ReadAgain(answer.Entry!.Row) with { LastUsedAt = usedElsewhere });
        var (running, _) = await Poll.UntilAsync(() => Task.FromResult(_verifier.RenewalsRunning), count => count == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, running);

        // Past the old lifetime's latest end (30 s): the same entry answers, with the later use, and no lookup on the way.
        _clock.Advance(TimeSpan.FromSeconds(8));
        _cache.Heard(_clock.GetUtcNow());
        var later = await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None);
        Assert.Same(answer.Entry, later.Entry);
        Assert.Equal(usedElsewhere, later.Key!.LastUsedAt);
        Assert.Equal(2, _store.Finds);

        // Still found by its user: a change to the user evicts it.
        _cache.Evict("user:3");
        Assert.False(_cache.TryGet(hash, out _));
    }

    [Fact]
    public async Task Keys_that_come_due_together_are_read_again_in_one_statement()
    {
        var rows = Enumerable.Range(1, 5).Select(id => Row(id, userId: 10 + id)).ToDictionary(row => row.Id);
        var tokens = rows.Keys.Select(_ => ApiToken.Generate()).ToList();
        for (var i = 0; i < tokens.Count; i++)
        {
            _cache.Add(tokens[i].Hash, rows[i + 1], _cache.Generation);
        }

        // 23 s: every key is due (40-75% of 30 s), none expired (80-100%); each answers from the cache.
        _clock.Advance(TimeSpan.FromSeconds(23));
        _cache.Heard(_clock.GetUtcNow());
        _store.ById = id => rows.GetValueOrDefault(id);
        foreach (var token in tokens)
        {
            Assert.True((await _verifier.VerifyAsync(token.Token, null, CancellationToken.None)).Valid);
        }

        var (running, _) = await Poll.UntilAsync(() => Task.FromResult(_verifier.RenewalsRunning), count => count == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, running);
        Assert.Equal(1, _store.Finds);
        Assert.Equal([1L, 2, 3, 4, 5], _store.LastBatch.Order());

        // Past every old lifetime (30 s): all five answer from the cache, with no other read.
        _clock.Advance(TimeSpan.FromSeconds(8));
        _cache.Heard(_clock.GetUtcNow());
        Assert.All(tokens, token => Assert.True(_cache.TryGet(token.Hash, out _)));
        Assert.Equal(1, _store.Finds);
    }

    [Fact]
    public async Task A_key_renewed_in_place_expires_within_the_ttl_of_its_renewal()
    {
        var hash = ApiToken.Hash(_token.Token);
        var (answer, read) = await RenewalHeldWhileTheKeyAnswers();
        read.SetResult(ReadAgain(answer.Entry!.Row));
        await Poll.UntilAsync(() => Task.FromResult(_verifier.RenewalsRunning), count => count == 0, TimeSpan.FromSeconds(10));

        // Renewed at 23 s; unused since: gone by 53 s.
        _clock.Advance(TimeSpan.FromSeconds(30.1));
        _cache.Heard(_clock.GetUtcNow());
        Assert.False(_cache.TryGet(hash, out _));
    }

    [Fact]
    public async Task A_renewal_that_read_before_a_revoke_cannot_put_the_old_row_back()
    {
        // The renewal reads the key before the revoke commits, and is held there.
        var (answer, read) = await RenewalHeldWhileTheKeyAnswers();
        Assert.True(answer.Valid);

        // The revoke commits and its notification evicts; then the renewal resumes with the row from before.
        _cache.Evict("key:7");
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(Row(revokedAt: _clock.GetUtcNow().UtcDateTime));
        read.SetResult(Row());
        var (running, _) = await Poll.UntilAsync(() => Task.FromResult(_verifier.RenewalsRunning), count => count == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, running);

        // Not answered valid from the old row: the next request reads the revoked one.
        Assert.Equal(Verification.Revoked, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Reason);
        Assert.Equal(3, _store.Finds);
    }

    [Fact]
    public async Task A_valid_key_from_an_address_out_of_failures_is_looked_up_even_while_the_cache_is_not_serving()
    {
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(Row());
        _cache.SetListening(false); // not serving: nothing cached, every check reads the store

        // Found valid once, from another address.
        Assert.True((await _verifier.VerifyAsync(_token.Token, "192.0.2.1", CancellationToken.None)).Valid);

        // This address used up its failures on malformed tokens.
        for (var i = 0; i < 100; i++)
        {
            await _verifier.VerifyAsync("uk_not_a_token", "192.0.2.2", CancellationToken.None);
        }

        Assert.Same(Verification.TooMany, await _verifier.VerifyAsync("uk_not_a_token", "192.0.2.2", CancellationToken.None));
        var finds = _store.Finds;
        Assert.True((await _verifier.VerifyAsync(_token.Token, "192.0.2.2", CancellationToken.None)).Valid);
        Assert.Equal(finds + 1, _store.Finds); // looked up, not refused unread
    }

    [Fact]
    public async Task A_token_found_unknown_is_remembered_until_a_key_is_created()
    {
        Assert.Equal(Verification.NotFound, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Reason);
        Assert.Equal(Verification.NotFound, (await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Reason);
        Assert.Equal(1, _store.Finds);

        _cache.Evict("key_created:8");
        _store.OnFind = () => Task.FromResult<ApiKeyWithUserRow?>(Row(8));

        Assert.True((await _verifier.VerifyAsync(_token.Token, null, CancellationToken.None)).Valid);
        Assert.Equal(2, _store.Finds);
    }

    [Fact]
    public void The_cache_serves_only_while_its_heartbeat_was_heard_within_three_seconds()
    {
        Assert.True(_cache.Enabled);
        _clock.Advance(TimeSpan.FromSeconds(2.9));
        Assert.True(_cache.Enabled);
        _clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.False(_cache.Enabled);

        _cache.Heard(_clock.GetUtcNow());
        Assert.True(_cache.Enabled);

        // A reconnect serves again only once a heartbeat on the new connection came back.
        _cache.SetListening(true);
        Assert.False(_cache.Enabled);
        _cache.Heard(_clock.GetUtcNow());
        Assert.True(_cache.Enabled);
    }


    [Fact]
    public void A_lost_listener_connection_stops_the_cache_at_once_except_for_stale_reads_from_standbys_within_three_seconds_of_the_last_heartbeat()
    {
        var hash = ApiToken.Hash(_token.Token);
        _cache.Add(hash, Row(), _cache.Generation);
        Assert.True(_cache.TryGet(hash, out _));

        // Reads from the primary only: nothing rides through a lost connection.
        _cache.Disconnected();
        Assert.False(_cache.Enabled);
        Assert.False(_cache.TryGet(hash, out _));
        Assert.False(_cache.TryGet(hash, staleRead: true, out _));

        using var standbys = new AuthCache(_clock, Options.Create(new ServiceOptions { AuthCacheSeconds = 30, ReadFromStandbys = true }));
        standbys.SetListening(true);
        standbys.Heard(_clock.GetUtcNow());
        standbys.Add(hash, Row(), standbys.Generation);
        standbys.Disconnected();
        Assert.False(standbys.TryGet(hash, out _));
        Assert.True(standbys.TryGet(hash, staleRead: true, out _));
        _clock.Advance(TimeSpan.FromSeconds(2.9));
        Assert.True(standbys.TryGet(hash, staleRead: true, out _));
        _clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.False(standbys.TryGet(hash, staleRead: true, out _));

        // The reconnect clears everything: notifications sent meanwhile are lost.
        standbys.SetListening(true);
        standbys.Heard(_clock.GetUtcNow());
        Assert.False(standbys.TryGet(hash, staleRead: true, out _));
    }
    [Fact]
    public void Evicting_a_key_or_a_user_drops_exactly_its_entries()
    {
        var hashes = Enumerable.Range(1, 4).Select(_ => ApiToken.Generate().Hash).ToList();
        _cache.Add(hashes[0], Row(1, userId: 10), _cache.Generation);
        _cache.Add(hashes[1], Row(2, userId: 10), _cache.Generation);
        _cache.Add(hashes[2], Row(3, userId: 11), _cache.Generation);
        _cache.Add(hashes[3], Row(4, userId: 12), _cache.Generation);

        _cache.Evict("key:3");
        _cache.Evict("user:10");

        Assert.Equal([false, false, false, true], hashes.Select(hash => _cache.TryGet(hash, out _)));
    }

    [Fact]
    public async Task Forged_notifications_clear_the_cache_at_most_once_a_second()
    {
        var first = ApiToken.Generate().Hash;
        _cache.Add(first, Row(1, userId: 10), _cache.Generation);
        _cache.Evict("x"); // a payload nobody sends but a forger: clears, at once the first time
        Assert.False(_cache.TryGet(first, out _));

        var second = ApiToken.Generate().Hash;
        _cache.Add(second, Row(2, userId: 11), _cache.Generation);
        for (var i = 0; i < 1000; i++)
        {
            _cache.Evict("all");
        }

        // Within the second: kept; at its end, cleared once.
        Assert.True(_cache.TryGet(second, out _));
        await Until(() => !_cache.TryGet(second, out _));
        var third = ApiToken.Generate().Hash;
        _cache.Add(third, Row(3, userId: 12), _cache.Generation);
        Assert.True(_cache.TryGet(third, out _));
    }

    [Fact]
    public async Task A_full_cache_evicts_and_keeps_caching()
    {
        for (var i = 0; i < 1000; i++)
        {
            _cache.Add(ApiToken.Generate().Hash, Row(i, userId: i), _cache.Generation);
        }

        // Compaction runs in the background once the limit (100) is passed: wait for it, bounded.
        await Until(() => _cache.Count <= 100);
        Assert.True(_cache.Count <= 100);

        var newest = ApiToken.Generate().Hash;
        await Until(() =>
        {
            _cache.Add(newest, Row(5000, userId: 5000), _cache.Generation);
            return _cache.TryGet(newest, out _);
        });
        Assert.True(_cache.TryGet(newest, out _));
    }

    [Fact]
    public async Task Expired_entries_are_dropped_without_a_lookup_of_their_token()
    {
        for (var i = 0; i < 10; i++)
        {
            _cache.Add(ApiToken.Generate().Hash, Row(i), _cache.Generation);
        }

        Assert.Equal(10, _cache.Count);
        _clock.Advance(TimeSpan.FromSeconds(31));
        _cache.Heard(_clock.GetUtcNow());

        // Any use of the cache starts the expiration scan (in the background); these tokens are never asked for.
        await Until(() =>
        {
            _cache.TryGet(ApiToken.Generate().Hash, out _);
            return _cache.Count == 0;
        });
        Assert.Equal(0, _cache.Count);
    }

    [Fact]
    public void Entries_added_together_expire_spread_over_the_last_fifth_of_the_ttl_never_after_it()
    {
        // 100 keys read in the same instant must not all go back to the database in the same instant.
        var tokens = Enumerable.Range(0, 100).Select(_ => ApiToken.Generate().Hash).ToList();
        for (var i = 0; i < tokens.Count; i++)
        {
            _cache.Add(tokens[i], Row(i), _cache.Generation);
        }

        _clock.Advance(TimeSpan.FromSeconds(23.9));
        _cache.Heard(_clock.GetUtcNow());
        Assert.All(tokens, token => Assert.True(_cache.TryGet(token, out _)));

        _clock.Advance(TimeSpan.FromSeconds(3.1)); // 27 s: about half of them
        _cache.Heard(_clock.GetUtcNow());
        var held = tokens.Count(token => _cache.TryGet(token, out _));
        Assert.InRange(held, 10, 90);

        _clock.Advance(TimeSpan.FromSeconds(3.1)); // 30.1 s: past the TTL, none
        _cache.Heard(_clock.GetUtcNow());
        Assert.All(tokens, token => Assert.False(_cache.TryGet(token, out _)));
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
            Thread.SpinWait(1000);
        }
    }

    public void Dispose()
    {
        _lastUse.Dispose();
        _cache.Dispose();
    }
}
