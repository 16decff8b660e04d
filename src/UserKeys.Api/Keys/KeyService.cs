using Microsoft.Extensions.Options;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>What a new key asks for: its name, expiry and scopes (null: the defaults the creating key implies).</summary>
internal sealed record KeyRequest(string? Name, DateTime? ExpiresAt, IReadOnlyList<string>? Scopes);

/// <summary>What the key endpoints do, on the unit of work they are given. Never commits.</summary>
internal sealed class KeyService(AuthCache authCache, KeyCursor cursors, IOptions<ServiceOptions> options)
{
    public const int NameMaxLength = 120;

    /// <summary>
    /// Issues a key; the token is in the result and nowhere else, ever. Privilege cannot grow: the new key
    /// gets no scope the calling key lacks (403) and expires no later than it (400); omitted, both are the
    /// calling key's. At most <see cref="ServiceOptions.MaxKeysPerUser"/> keys per user (409).
    /// </summary>
    /// <exception cref="NotFoundError">The user does not exist (or the caller may not see it).</exception>
    public async Task<CreatedKeyResponse> CreateAsync(UnitOfWork unit, Caller caller, long userId, KeyRequest key, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var granted = Grant(caller, key);
        var issued = ApiToken.Generate();
        // Concurrent issues for one user count one after another: the cap holds exactly.
        await unit.Users.LockForNewKeyAsync(userId, cancellationToken).ConfigureAwait(false);
        var row = await unit.Keys.CreateAsync(
                new NewApiKey(userId, key.Name, issued.Prefix, issued.Hash, granted.ExpiresAt, granted.Scopes),
                options.Value.MaxKeysPerUser, cancellationToken).ConfigureAwait(false)
            ?? throw new RuleError("Too many keys",
                $"User {userId} has {options.Value.MaxKeysPerUser} keys already (revoked ones count until deleted). Delete one first.");
        return CreatedKeyResponse.From(row, issued.Token);
    }

    /// <summary>The expiry and scopes a key may get from <paramref name="caller"/>'s key.</summary>
    private static (DateTime? ExpiresAt, string[] Scopes) Grant(Caller caller, KeyRequest key)
    {
        var callerKey = caller.Key;
        if (key.Scopes is { } asked && asked.Where(scope => !callerKey.Scopes.Contains(scope, StringComparer.Ordinal)).ToList() is { Count: > 0 } missing)
        {
            throw new ForbiddenError($"A key cannot grant scopes it lacks: this key lacks {string.Join(", ", missing.Select(scope => $"'{scope}'"))}.");
        }

        if (key.ExpiresAt is { } expiry && callerKey.ExpiresAt is { } limit && expiry > limit)
        {
            throw new ValidationError("expires_at", "must not be later than the calling key's own expiry (a key cannot create a key that outlives it)");
        }

        return (key.ExpiresAt ?? callerKey.ExpiresAt, Scopes.Normalize(key.Scopes ?? callerKey.Scopes));
    }

    public async Task<KeyListResponse> ListAsync(UnitOfWork unit, Caller caller, long userId, KeyListQuery query, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        // Read once per process (shared with the users listing's cursors).
        await cursors.EnsureKeyAsync(unit, cancellationToken).ConfigureAwait(false);
        var (limit, after) = (query.Limit, query.After);
        long? afterId = null;
        if (after is not null)
        {
            afterId = cursors.TryDecode(after, out var decoded)
                ? decoded
                : throw new ValidationError("after", "is not a cursor this service issued for this listing (pass next_cursor from the previous page unchanged)");
        }

        if (userId != caller.UserId)
        {
            // 404 for a user that does not exist, not an empty list (same snapshot as the listing).
            await unit.Users.GetAsync(userId, cancellationToken).ConfigureAwait(false);
        }

        // One key more than the page tells whether a next page exists, without a count.
        var keys = await unit.Keys.ListByUserAsync(userId, afterId, limit + 1, cancellationToken).ConfigureAwait(false);
        var next = keys.Count > limit ? cursors.Encode(keys[limit - 1].Id) : null;
        return new KeyListResponse(keys.Take(limit).Select(KeyResponse.From).ToList(), next);
    }

    public async Task<KeyResponse> RevokeAsync(UnitOfWork unit, Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var key = await unit.Keys.RevokeAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        KeyChanged(unit, keyId);
        return KeyResponse.From(key);
    }

    public async Task DeleteAsync(UnitOfWork unit, Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        await unit.Keys.DeleteAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        KeyChanged(unit, keyId);
    }

    /// <summary>
    /// The next request on this instance must not find the key in the cache. Every instance, this one
    /// included, also hears the trigger's notification when the transaction commits.
    /// </summary>
    private void KeyChanged(UnitOfWork unit, long keyId) => unit.AfterCommit(() => authCache.EvictKey(keyId));
}
