using UserKeys.Api.Infrastructure;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Auth;

/// <summary>The outcome of checking a token: the key and its user, or why not.</summary>
internal sealed record Verification(ApiKeyWithUserRow? Key, string? Reason)
{
    public const string Malformed = "malformed";
    public const string NotFound = "not_found";
    public const string Revoked = "revoked";
    public const string Expired = "expired";

    public bool Valid => Key is not null;
}

/// <summary>
/// Checks a token: format and checksum in memory (a malformed or mistyped token never reaches the
/// database), then the key and its user by SHA-256 in one statement. Records use at most once a
/// minute per key, so verification stays a read in the common case.
/// </summary>
internal sealed class KeyVerifier(RequestConnection requestConnection, AuthCache cache, TimeProvider clock, Npgsql.NpgsqlDataSource dataSource)
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <summary>Verifies, trying once more on a fresh connection when a pooled one turns out dead.</summary>
    public async Task<Verification> VerifyAsync(string? token, CancellationToken cancellationToken)
    {
        try
        {
            return await VerifyOnceAsync(token, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (Retry.IsBrokenConnection(error) && !cancellationToken.IsCancellationRequested)
        {
            await Retry.RecoverAsync(error, requestConnection, dataSource, 1, cancellationToken).ConfigureAwait(false);
            return await VerifyOnceAsync(token, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<Verification> VerifyOnceAsync(string? token, CancellationToken cancellationToken)
    {
        if (!ApiToken.TryParse(token, out var hash))
        {
            return new Verification(null, Verification.Malformed);
        }

        if (!cache.TryGet(hash, out var key))
        {
            var generation = cache.Generation;
            var found = await (await KeysAsync(cancellationToken).ConfigureAwait(false))
                .FindWithUserByTokenHashAsync(hash, cancellationToken).ConfigureAwait(false);
            if (found is null)
            {
                return new Verification(null, Verification.NotFound);
            }

            key = found;
            cache.Add(hash, key, generation);
        }

        if (key.RevokedAt is not null)
        {
            return new Verification(null, Verification.Revoked);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (key.ExpiresAt <= now)
        {
            return new Verification(null, Verification.Expired);
        }

        if (key.LastUsedAt is null || key.LastUsedAt < now - LastUsedResolution)
        {
            var touched = await (await KeysAsync(cancellationToken).ConfigureAwait(false))
                .TouchLastUsedAsync(key.Id, cancellationToken).ConfigureAwait(false);
            // Null: another instance recorded a use within the minute. Remember "now" so as not to try
            // again on every request; the exact time is in the database.
            key = key with { LastUsedAt = touched ?? now };
            cache.Update(hash, key);
        }

        return new Verification(key, null);
    }

    // Outside any transaction: authentication runs before the request's unit of work begins.
    private async Task<ApiKeyRepository> KeysAsync(CancellationToken cancellationToken) =>
        new(await requestConnection.GetAsync(cancellationToken).ConfigureAwait(false), transaction: null);
}
