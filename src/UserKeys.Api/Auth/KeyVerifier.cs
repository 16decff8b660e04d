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
internal sealed class KeyVerifier(RequestConnection requestConnection, TimeProvider clock)
{
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public async Task<Verification> VerifyAsync(string? token, CancellationToken cancellationToken)
    {
        if (!ApiToken.TryParse(token, out var hash))
        {
            return new Verification(null, Verification.Malformed);
        }

        // Outside any transaction: authentication runs before the request's unit of work begins.
        var connection = await requestConnection.GetAsync(cancellationToken).ConfigureAwait(false);
        var keys = new ApiKeyRepository(connection, transaction: null);
        var key = await keys.FindWithUserByTokenHashAsync(hash, cancellationToken).ConfigureAwait(false);
        if (key is null)
        {
            return new Verification(null, Verification.NotFound);
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
            var touched = await keys.TouchLastUsedAsync(key.Id, cancellationToken).ConfigureAwait(false);
            if (touched is not null)
            {
                key = key with { LastUsedAt = touched };
            }
        }

        return new Verification(key, null);
    }
}
