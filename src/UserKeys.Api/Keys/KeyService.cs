using Microsoft.Extensions.Options;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>What a new key asks for: its name, expiry and scopes (null: the defaults the creating key implies).</summary>
internal sealed record KeyRequest(string? Name, DateTime? ExpiresAt, IReadOnlyList<string>? Scopes);

/// <summary>What the key endpoints do, on the request's unit of work. Never commits.</summary>
internal sealed class KeyService(RequestUnitOfWork request, AuthCache authCache, KeyCursor cursors, IOptions<ServiceOptions> options)
{
    public const int NameMaxLength = 120;
    public const int DefaultListLimit = 100;
    public const int MaxListLimit = 100;

    private UnitOfWork Unit => request.Current;

    /// <summary>
    /// Issues a key; the token is in the result and nowhere else, ever. Privilege cannot grow: the new key
    /// gets no scope the calling key lacks (403) and expires no later than it (400); omitted, both are the
    /// calling key's. At most <see cref="ServiceOptions.MaxKeysPerUser"/> keys per user (409).
    /// </summary>
    /// <exception cref="NotFoundError">The user does not exist (or the caller may not see it).</exception>
    public async Task<CreatedKeyResponse> CreateAsync(Caller caller, long userId, KeyRequest key, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var granted = Grant(caller, key);
        var issued = ApiToken.Generate();
        // Concurrent issues for one user count one after another: the cap holds exactly.
        await Unit.Users.LockForNewKeyAsync(userId, cancellationToken).ConfigureAwait(false);
        var row = await Unit.Keys.CreateAsync(
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

    public async Task<KeyListResponse> ListAsync(Caller caller, long userId, int limit, string? after, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        // Read once per process (shared with the users listing's cursors).
        await cursors.EnsureKeyAsync(Unit, cancellationToken).ConfigureAwait(false);
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
            await Unit.Users.GetAsync(userId, cancellationToken).ConfigureAwait(false);
        }

        // One key more than the page tells whether a next page exists, without a count.
        var keys = await Unit.Keys.ListByUserAsync(userId, afterId, limit + 1, cancellationToken).ConfigureAwait(false);
        var next = keys.Count > limit ? cursors.Encode(keys[limit - 1].Id) : null;
        return new KeyListResponse(keys.Take(limit).Select(KeyResponse.From).ToList(), next);
    }

    public async Task<KeyResponse> RevokeAsync(Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var key = await Unit.Keys.RevokeAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        KeyChanged(keyId);
        return KeyResponse.From(key);
    }

    public async Task DeleteAsync(Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        await Unit.Keys.DeleteAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        KeyChanged(keyId);
    }

    /// <summary>
    /// The next request on this instance must not find the key in the cache. Every instance, this one
    /// included, also hears the trigger's notification when the transaction commits.
    /// </summary>
    private void KeyChanged(long keyId) => request.AfterCommit(() => authCache.EvictKey(keyId));

    /// <summary>Reads and checks a key's <c>name</c>, <c>expires_at</c> (in the future) and <c>scopes</c> (known ones).</summary>
    public static KeyRequest ReadKeyFields(JsonBody body, string nameField, DateTime now)
    {
        var name = UserInput.ReadName(body, nameField);
        var expiresAt = body.Timestamp("expires_at");
        if (expiresAt is { } expiry && expiry <= now)
        {
            body.AddError("expires_at", "must be in the future");
        }

        var scopes = body.StringArray("scopes", Scopes.All.Length * 2,
            scope => Scopes.IsKnown(scope) ? null : $"is not a scope (one of {string.Join(", ", Scopes.All)})");
        return new KeyRequest(name, expiresAt, scopes);
    }
}
