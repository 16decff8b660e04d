using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Auth;

/// <summary>The outcome of checking a token: the key's cache entry (its row with the user), or why not.</summary>
internal sealed record Verification(CachedKey? Entry, string? Reason)
{
    public const string Malformed = "malformed";
    public const string NotFound = "not_found";
    public const string Revoked = "revoked";
    public const string Expired = "expired";
    public const string Disabled = "disabled";

    /// <summary>Only from verify: the key lacks one of the permissions the relying service asked for.</summary>
    public const string InsufficientPermissions = "insufficient_permissions";

    /// <summary>Only from verify: the key's credits do not cover the verification's cost.</summary>
    public const string UsageExceeded = "usage_exceeded";

    /// <summary>
    /// From verify: one of the key's rate limits has no units left in its window. Also, internally, not a verdict on
    /// the token at all: the client address used up its failed checks (<see cref="TooMany"/>: 429).
    /// </summary>
    public const string RateLimited = "rate_limited";

    /// <summary>The key and its user as the caller sees them (with the latest use this instance knows of).</summary>
    public ApiKeyWithUserRow? Key => Entry?.Current;

    public bool Valid => Entry is not null;

    public static readonly Verification TooMany = new(null, RateLimited);
}

/// <summary>Where the verifier reads keys: the database, or a fake that tests use to force interleavings.</summary>
internal interface IKeyStore
{
    Task<ApiKeyWithUserRow?> FindAsync(byte[] tokenHash, CancellationToken cancellationToken);

    /// <summary>The keys of <paramref name="ids"/> that still exist, in any order.</summary>
    Task<IReadOnlyList<ApiKeyWithUserRow>> FindManyAsync(long[] ids, CancellationToken cancellationToken);
}

/// <summary>Each lookup is one statement on a pooled connection of its own, outside any transaction: authentication runs before the request's unit of work.</summary>
internal sealed class DatabaseKeyStore(UnitOfWorkRunner database) : IKeyStore
{
    public Task<ApiKeyWithUserRow?> FindAsync(byte[] tokenHash, CancellationToken cancellationToken) =>
        database.RunAsync(UnitOfWorkMode.SingleStatement, unit => unit.Keys.FindWithUserByTokenHashAsync(tokenHash, cancellationToken), cancellationToken);

    public Task<IReadOnlyList<ApiKeyWithUserRow>> FindManyAsync(long[] ids, CancellationToken cancellationToken) =>
        database.RunAsync(UnitOfWorkMode.SingleStatement, unit => unit.Keys.FindWithUserByIdsAsync(ids, cancellationToken), cancellationToken);
}

/// <summary>
/// Checks a token: format and checksum in memory (a malformed or mistyped token never reaches the
/// database), then the cache, then the key and its user by SHA-256 in one statement. Failed checks are
/// counted against the client address (<see cref="FailureLimiter"/>) when one is given; an address that
/// used up its failures gets <see cref="Verification.TooMany"/> before any database work, unless the
/// token is a valid key in the cache. Records use at most once a minute per key, and counts the refusals of a
/// known key (revoked, expired, disabled) for its usage.
/// </summary>
internal sealed class KeyVerifier(
    IKeyStore store, AuthCache cache, FailureLimiter failures, Usage.UsageCounter usage, LastUseRecorder lastUse, TimeProvider clock)
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <summary>Keys a renewal reads in one statement (<c>keys/get_with_user_by_ids</c>).</summary>
    public const int RenewalBatchSize = 500;

    /// <summary>
    /// How long renewals gather before they are read: keys come due one by one, and one statement for each of 10,000
    /// keys in use was about 590 lookups a second. An entry due for renewal has at least 5% of the TTL left (1.5 s of 30).
    /// </summary>
    public static readonly TimeSpan RenewalGathering = TimeSpan.FromMilliseconds(200);

    private readonly System.Collections.Concurrent.ConcurrentQueue<(byte[] Hash, CachedKey Entry)> _due = new();
    private int _renewing;

    /// <summary>1 while renewals gather or read, else 0.</summary>
    public int RenewalsRunning => Volatile.Read(ref _renewing);

    /// <summary>
    /// Verifies (a dead pooled connection is retried on a fresh one by the store's unit of work).
    /// <paramref name="address"/>: count failures against it (null: the caller is limited per key instead).
    /// </summary>
    public Task<Verification> VerifyAsync(string? token, string? address, CancellationToken cancellationToken) =>
        VerifyAsync(token, address, staleRead: false, cancellationToken);

    /// <summary>
    /// <see cref="VerifyAsync(string?, string?, CancellationToken)"/> for a request whose answer may be stale
    /// (<paramref name="staleRead"/>): the cache may answer while its listener reconnects (<see cref="AuthCache.Disconnected"/>).
    /// </summary>
    public async Task<Verification> VerifyAsync(string? token, string? address, bool staleRead, CancellationToken cancellationToken)
    {
        var wellFormed = ApiToken.TryParse(token, out var hash);
        CachedKey? entry = null;
        if (wellFormed && cache.TryGet(hash, staleRead, out var cached))
        {
            entry = cached;
            // One reading of the clock for the expiry, the renewal and the last use.
            var now = clock.GetUtcNow();
            if (Refusal(cached.Row, now) is null)
            {
                RenewIfDue(hash, cached, now);
                return Use(cached, now);
            }
        }

        // An address that used up its failures is refused unread, unless the token is one the cache held as a key's
        // (also while the cache is not serving): that is looked up, so a valid key is never throttled by its address.
        if (address is not null && failures.IsExhausted(address) && !(wellFormed && entry is null && cache.HoldsToken(hash)))
        {
            return Verification.TooMany;
        }

        if (!wellFormed)
        {
            return Refuse(Verification.Malformed, address);
        }

        if (entry is null)
        {
            if (cache.IsKnownUnknown(hash))
            {
                return Refuse(Verification.NotFound, address);
            }

            var generation = cache.Generation;
            var found = await store.FindAsync(hash, cancellationToken).ConfigureAwait(false);
            if (found is null)
            {
                cache.AddUnknown(hash, generation);
                return Refuse(Verification.NotFound, address);
            }

            entry = cache.Add(hash, found, generation);
        }

        var at = clock.GetUtcNow();
        if (Refusal(entry.Row, at) is { } reason)
        {
            usage.Count(entry.Row.Id, reason switch
            {
                Verification.Revoked => Usage.UsageOutcome.Revoked,
                Verification.Expired => Usage.UsageOutcome.Expired,
                _ => Usage.UsageOutcome.Disabled,
            });
            return Refuse(reason, address);
        }

        return Use(entry, at);
    }

    /// <summary>
    /// Has a cached key that is due (<see cref="CachedKey.TryClaimRenewal"/>) read again in the background, while it goes
    /// on answering: due keys gather for <see cref="RenewalGathering"/>, then are read <see cref="RenewalBatchSize"/> a
    /// statement, by one reader at a time. A renewal that read before an eviction is not kept, as any lookup
    /// (<see cref="AuthCache.Renew"/>); a later request claims it again.
    /// </summary>
    private void RenewIfDue(byte[] hash, CachedKey entry, DateTimeOffset now)
    {
        if (!entry.TryClaimRenewal(now))
        {
            return;
        }

        if (!cache.Enabled)
        {
            entry.RenewalFailed();
            return;
        }

        _due.Enqueue((hash, entry));
        StartRenewing();
    }

    private void StartRenewing()
    {
        if (Interlocked.CompareExchange(ref _renewing, 1, 0) != 0)
        {
            return;
        }

        // Not on the request's execution context: the request neither waits for it nor owns its telemetry.
        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(RenewDueAsync);
        }
    }

    private async Task RenewDueAsync()
    {
        try
        {
            await Task.Delay(RenewalGathering, clock).ConfigureAwait(false);
            // What gathered; keys that come due during these reads wait for the next gathering, so the reads stay few and
            // full, and a statement that keeps failing is tried at most once a gathering.
            var gathered = _due.Count;
            var batch = new List<(byte[] Hash, CachedKey Entry)>(Math.Min(gathered, RenewalBatchSize));
            while (gathered > 0)
            {
                while (batch.Count < RenewalBatchSize && gathered > 0 && _due.TryDequeue(out var due))
                {
                    batch.Add(due);
                    gathered--;
                }

                if (batch.Count == 0)
                {
                    break;
                }

                await RenewAsync(batch).ConfigureAwait(false);
                batch.Clear();
            }
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
            // A key that came due after the last read and before the flag was cleared has no reader yet.
            if (!_due.IsEmpty)
            {
                StartRenewing();
            }
        }
    }

    private async Task RenewAsync(List<(byte[] Hash, CachedKey Entry)> batch)
    {
        var generation = cache.Generation;
        IReadOnlyList<ApiKeyWithUserRow> rows;
        try
        {
            rows = await store.FindManyAsync([.. batch.Select(due => due.Entry.Row.Id)], CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Best effort in the background: the entries expire as they would have, and their next lookups report.
        catch (Exception)
#pragma warning restore CA1031
        {
            rows = [];
        }

        var byId = rows.ToDictionary(row => row.Id);
        foreach (var (hash, entry) in batch)
        {
            // Gone: the deletion's notification evicts the entry (and, at the latest, it expires). Not kept, or not read:
            // a later request claims the renewal again.
            if (!byId.TryGetValue(entry.Row.Id, out var row) || !cache.Renew(hash, row, generation, entry))
            {
                entry.RenewalFailed();
            }
        }
    }

    private static string? Refusal(ApiKeyWithUserRow key, DateTimeOffset now) =>
        key.RevokedAt is not null ? Verification.Revoked
        : key.ExpiresAt <= now.UtcDateTime ? Verification.Expired
        : !key.Enabled ? Verification.Disabled
        : null;

    private Verification Refuse(string reason, string? address)
    {
        if (address is not null)
        {
            failures.RecordFailure(address);
        }

        return new Verification(null, reason);
    }

    /// <summary>
    /// Notes the use (at most once a minute per key and instance; <see cref="LastUseRecorder"/> writes it within a second)
    /// and returns the key as the caller sees it: with this use as its last.
    /// </summary>
    private Verification Use(CachedKey entry, DateTimeOffset at)
    {
        var now = at.UtcDateTime;
        if (entry.TryClaimUse(now, LastUsedResolution))
        {
            lastUse.Record(entry.Row.Id, now);
        }

        return new Verification(entry, null);
    }
}
