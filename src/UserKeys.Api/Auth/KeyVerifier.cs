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
}

/// <summary>Each lookup is one statement on a pooled connection of its own, outside any transaction: authentication runs before the request's unit of work.</summary>
internal sealed class DatabaseKeyStore(UnitOfWorkRunner database) : IKeyStore
{
    public Task<ApiKeyWithUserRow?> FindAsync(byte[] tokenHash, CancellationToken cancellationToken) =>
        database.RunAsync(UnitOfWorkMode.SingleStatement, unit => unit.Keys.FindWithUserByTokenHashAsync(tokenHash, cancellationToken), cancellationToken);
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

    /// <summary>Renewals of cached keys that may read at once: a wave of them never takes the whole pool.</summary>
    public const int MaxConcurrentRenewals = 2;

    private readonly SemaphoreSlim _renewals = new(MaxConcurrentRenewals);

    /// <summary>Renewals reading right now.</summary>
    public int RenewalsRunning => MaxConcurrentRenewals - _renewals.CurrentCount;

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
    /// on answering; at most <see cref="MaxConcurrentRenewals"/> at a time (a request that finds no slot leaves it to the
    /// next). A renewal that read before an eviction is not kept, as any lookup (<see cref="AuthCache.Renew"/>).
    /// </summary>
    private void RenewIfDue(byte[] hash, CachedKey entry, DateTimeOffset now)
    {
        if (!entry.TryClaimRenewal(now))
        {
            return;
        }

        if (!cache.Enabled || !_renewals.Wait(0))
        {
            entry.RenewalFailed();
            return;
        }

        // Not on the request's execution context: the request neither waits for it nor owns its telemetry.
        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(() => RenewAsync(hash, entry));
        }
    }

    private async Task RenewAsync(byte[] hash, CachedKey entry)
    {
        try
        {
            var generation = cache.Generation;
            // Gone: the deletion's notification evicts the entry (and, at the latest, it expires).
            if (await store.FindAsync(hash, CancellationToken.None).ConfigureAwait(false) is { } row)
            {
                cache.Renew(hash, row, generation, entry);
            }
        }
#pragma warning disable CA1031 // Best effort in the background: the entry expires as it would have, and its next lookup reports.
        catch (Exception)
#pragma warning restore CA1031
        {
            entry.RenewalFailed();
        }
        finally
        {
            _renewals.Release();
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
