using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>What the key endpoints do, on the request's unit of work. Never commits.</summary>
internal sealed class KeyService(RequestUnitOfWork request, AuthCache authCache)
{
    public const int NameMaxLength = 120;

    private UnitOfWork Unit => request.Current;

    /// <summary>Issues a key; the token is in the result and nowhere else, ever.</summary>
    /// <exception cref="NotFoundError">The user does not exist (or the caller may not see it).</exception>
    public async Task<CreatedKeyResponse> CreateAsync(Caller? caller, long userId, string? name, DateTime? expiresAt, CancellationToken cancellationToken)
    {
        if (caller is not null)
        {
            UserService.EnsureCanActOn(caller, userId);
        }

        var issued = ApiToken.Generate();
        var row = await Unit.Keys.CreateAsync(new NewApiKey(userId, name, issued.Prefix, issued.Hash, expiresAt), cancellationToken).ConfigureAwait(false);
        return CreatedKeyResponse.From(row, issued.Token);
    }

    public async Task<KeyListResponse> ListAsync(Caller caller, long userId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        if (userId != caller.UserId)
        {
            // 404 for a user that does not exist, not an empty list (same snapshot as the listing).
            await Unit.Users.GetAsync(userId, cancellationToken).ConfigureAwait(false);
        }

        var keys = await Unit.Keys.ListByUserAsync(userId, cancellationToken).ConfigureAwait(false);
        return new KeyListResponse(keys.Select(KeyResponse.From).ToList());
    }

    public async Task<KeyResponse> RevokeAsync(Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var key = await Unit.Keys.RevokeAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        await KeyChangedAsync(keyId, cancellationToken).ConfigureAwait(false);
        return KeyResponse.From(key);
    }

    public async Task DeleteAsync(Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        await Unit.Keys.DeleteAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        await KeyChangedAsync(keyId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The next request on this instance must not find the key in the cache; other instances hear it on commit.</summary>
    private async Task KeyChangedAsync(long keyId, CancellationToken cancellationToken)
    {
        await Unit.AuthChanges.KeyChangedAsync(keyId, cancellationToken).ConfigureAwait(false);
        request.AfterCommit(() => authCache.EvictKey(keyId));
    }

    /// <summary>Reads and checks a key's <c>name</c> and <c>expires_at</c> (which must lie in the future).</summary>
    public static (string? Name, DateTime? ExpiresAt) ReadKeyFields(JsonBody body, string nameField, DateTime now)
    {
        var name = UserInput.ReadName(body, nameField);
        var expiresAt = body.Timestamp("expires_at");
        if (expiresAt is { } expiry && expiry <= now)
        {
            body.AddError("expires_at", "must be in the future");
        }

        return (name, expiresAt);
    }
}
