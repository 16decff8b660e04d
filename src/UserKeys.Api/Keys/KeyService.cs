using Microsoft.Extensions.Options;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>
/// What a new key asks for: its name, expiry and scopes (null: the defaults the creating key implies), whether it is
/// enabled, its permissions and its meta (a JSON object's text, or null).
/// </summary>
internal sealed record KeyRequest(
    string? Name, DateTime? ExpiresAt, IReadOnlyList<string>? Scopes, bool Enabled = true, IReadOnlyList<string>? Permissions = null, string? Meta = null)
{
    /// <summary>Credits (null: unlimited); without them, a refill's amount.</summary>
    public long? Remaining { get; init; }

    public Refill? Refill { get; init; }

    public RateLimitRules? RateLimits { get; init; }

    /// <summary>Whether the request names remaining, refill or rate_limits at all (admins only).</summary>
    public bool SetsUsageControl { get; init; }

    /// <summary>Whether the request names meta at all (admins only).</summary>
    public bool SetsMeta { get; init; }
}

/// <summary>What the key endpoints do, on the unit of work they are given. Never commits.</summary>
internal sealed class KeyService(AuthCache authCache, KeyCursor cursors, IOptions<ServiceOptions> options)
{
    public const int NameMaxLength = 120;

    /// <summary>
    /// Issues a key; the token is in the result and nowhere else, ever. Privilege cannot grow: the new key
    /// gets no scope the calling key lacks (403) and expires no later than it (400); omitted, both are the
    /// calling key's. At most <see cref="ServiceOptions.MaxKeysPerUser"/> keys per user (409). A member's new key
    /// (<see cref="HolderRules"/>) holds only permissions its calling key holds (omitted: the calling key's), carries its
    /// meta, and draws on its budget.
    /// </summary>
    /// <exception cref="NotFoundError">The user does not exist (or the caller may not see it).</exception>
    public async Task<CreatedKeyResponse> CreateAsync(UnitOfWork unit, Caller caller, long userId, KeyRequest key, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        EnsureMaySetUsageControl(caller, key.SetsUsageControl);
        HolderRules.EnsureNoMeta(caller, key.SetsMeta);
        var holder = caller.IsHolder();
        var permissions = key.Permissions is { } asked ? PermissionListAttribute.Normalize(asked) : holder ? caller.Key.Permissions : [];
        HolderRules.EnsureHeld(caller, permissions);
        var granted = Grant(caller, key);
        var issued = ApiToken.Generate();
        // Concurrent issues for one user count one after another: the cap holds exactly.
        await unit.Users.LockForNewKeyAsync(userId, cancellationToken).ConfigureAwait(false);
        ParentKey? parent = null;
        if (holder)
        {
            // Checked again against the calling key as it is now, locked: an admin's change of it commits before (and
            // is seen here) or after (and reaches the new key: keys/impose_on_derived).
            parent = await LockParentAsync(unit, caller.Key.Id, cancellationToken).ConfigureAwait(false);
            HolderRules.EnsureDerivable(parent, permissions, granted.ExpiresAt);
        }

        var row = await InsertAsync(unit, new NewApiKey(
                userId, key.Name, issued.Prefix, issued.Hash, granted.ExpiresAt, granted.Scopes,
                key.Enabled, permissions, parent is null ? key.Meta : parent.Meta,
                Remaining: key.Remaining ?? key.Refill?.Amount, RefillInterval: key.Refill?.Interval, RefillAmount: key.Refill?.Amount,
                RateLimits: key.RateLimits, BudgetKeyId: parent?.BudgetKeyId, DisabledByAdmin: !holder && !key.Enabled, DerivedFromId: parent?.Id),
            cancellationToken).ConfigureAwait(false);
        return CreatedKeyResponse.From(row, issued.Token);
    }

    /// <summary>The key a new key derives from, as it is now, held until the transaction ends (with its budget's key).</summary>
    private static async Task<ParentKey> LockParentAsync(UnitOfWork unit, long keyId, CancellationToken cancellationToken) =>
        await unit.Keys.LockParentAsync(keyId, cancellationToken).ConfigureAwait(false)
        ?? throw new RuleError("Key changed", $"Key {keyId} was deleted, or the budget it draws on passed to another key, meanwhile. Try again.");

    /// <summary>Only an admin may set remaining, refill or rate_limits (../shared/API.md, "Key").</summary>
    private static void EnsureMaySetUsageControl(Caller caller, bool sets)
    {
        if (sets && !caller.IsAdmin)
        {
            throw new ForbiddenError("Only an admin may set remaining, refill or rate_limits.");
        }
    }

    private async Task<ApiKeyRow> InsertAsync(UnitOfWork unit, NewApiKey key, CancellationToken cancellationToken) =>
        await unit.Keys.CreateAsync(key, options.Value.MaxKeysPerUser, cancellationToken).ConfigureAwait(false)
        ?? throw new RuleError("Too many keys",
            $"User {key.UserId} has {options.Value.MaxKeysPerUser} keys already (revoked ones count until deleted). Delete one first.");

    /// <summary>
    /// Changes what <paramref name="update"/> sets. Scopes only narrow (403 otherwise); an expiry is bound by the
    /// calling key's like on creation (400); a rolled key's expiry is fixed (409). A member (<see cref="HolderRules"/>)
    /// grants only permissions its calling key holds, sets no meta, enables no key an admin disabled, and moves an expiry
    /// only earlier (403). Usage limits set on a key that draws on another's budget are set on that budget.
    /// </summary>
    /// <exception cref="NotFoundError">The user has no such key (or the caller may not see it).</exception>
    public async Task<KeyResponse> UpdateAsync(UnitOfWork unit, Caller caller, ApiKeyUpdate update, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, update.UserId);
        var setsLimits = update.SetRemaining || update.SetRefill || update.RateLimits is not null;
        EnsureMaySetUsageControl(caller, setsLimits);
        HolderRules.EnsureNoMeta(caller, update.SetMeta);
        if (update.Permissions is { } permissions)
        {
            HolderRules.EnsureHeld(caller, permissions);
        }

        if (update.SetExpiresAt && caller.Key.ExpiresAt is { } limit && (update.ExpiresAt is not { } expiry || expiry > limit))
        {
            throw new ValidationError("expires_at", update.ExpiresAt is null
                ? "must not be null: the calling key expires, and cannot make a key that never does"
                : "must not be later than the calling key's own expiry (a key cannot make a key outlive it)");
        }

        var normalized = update with { Holder = caller.IsHolder(), Scopes = update.Scopes is { } scopes ? Scopes.Normalize(scopes) : null };
        if (setsLimits
            && await unit.Keys.GetStateAsync(update.UserId, update.Id, cancellationToken).ConfigureAwait(false) is { } target
            && target.BudgetKeyId != update.Id)
        {
            // Only an admin gets here: the limits are the budget's, shared by every key that draws on it.
            var limits = new ApiKeyUpdate(update.UserId, target.BudgetKeyId, Holder: false,
                SetRemaining: update.SetRemaining, Remaining: update.Remaining,
                SetRefill: update.SetRefill, RefillInterval: update.RefillInterval, RefillAmount: update.RefillAmount, RateLimits: update.RateLimits);
            _ = await unit.Keys.UpdateAsync(limits, cancellationToken).ConfigureAwait(false)
                ?? throw await WhyNotUpdatedAsync(unit, limits, cancellationToken).ConfigureAwait(false);
            KeyChanged(unit, target.BudgetKeyId);
            normalized = normalized with { SetRemaining = false, Remaining = null, SetRefill = false, RefillInterval = null, RefillAmount = null, RateLimits = null };
        }

        var row = await unit.Keys.UpdateAsync(normalized, cancellationToken).ConfigureAwait(false)
            ?? throw await WhyNotUpdatedAsync(unit, normalized, cancellationToken).ConfigureAwait(false);
        KeyChanged(unit, update.Id);
        if (!normalized.Holder)
        {
            await ImposeOnDerivedAsync(unit, update.Id, cancellationToken).ConfigureAwait(false);
        }

        return KeyResponse.From(row);
    }

    /// <summary>What an admin imposed on a key reaches every key its holder derived from it (keys/impose_on_derived).</summary>
    private async Task ImposeOnDerivedAsync(UnitOfWork unit, long keyId, CancellationToken cancellationToken)
    {
        foreach (var derived in await unit.Keys.ImposeOnDerivedAsync(keyId, cancellationToken).ConfigureAwait(false))
        {
            KeyChanged(unit, derived);
        }
    }

    /// <summary>Why keys/update matched no row, from where the key stands now (the statement's conditions, in its order).</summary>
    private static async Task<Exception> WhyNotUpdatedAsync(UnitOfWork unit, ApiKeyUpdate update, CancellationToken cancellationToken)
    {
        var state = await unit.Keys.GetStateAsync(update.UserId, update.Id, cancellationToken).ConfigureAwait(false);
        if (state is null)
        {
            return new NotFoundError("key", update.Id);
        }

        if (update.Scopes?.Where(scope => !state.Scopes.Contains(scope, StringComparer.Ordinal)).ToList() is { Count: > 0 } added)
        {
            return new ForbiddenError(
                $"PATCH may narrow a key's scopes, never widen them: key {update.Id} lacks {string.Join(", ", added.Select(scope => $"'{scope}'"))}.");
        }

        if (update is { SetRemaining: true, Remaining: null } && state.RefillInterval is not null && !(update is { SetRefill: true, RefillInterval: null }))
        {
            return new ValidationError("remaining", "must not be null while the key has a refill (clear refill in the same request)");
        }

        if (update.SetExpiresAt && state.RolledAt is not null)
        {
            return new RuleError("Key rolled", $"Key {update.Id} was rolled: its expiry ends its grace period and cannot change.");
        }

        if (update.Holder && update.Enabled == true && state.DisabledByAdmin)
        {
            return new ForbiddenError($"Key {update.Id} was disabled by an admin; only an admin can enable it again.");
        }

        if (update.Holder && update.Permissions?.FirstOrDefault(permission => !HolderRules.Covers(state.Permissions, permission)) is { } wider)
        {
            return new ForbiddenError($"A member may only narrow a key's permissions: key {update.Id} does not hold '{wider}'.");
        }

        if (update.Holder && update.SetExpiresAt)
        {
            return new ForbiddenError(
                $"A member may move a key's expiry only earlier: key {update.Id} expires at {state.ExpiresAt:O}; a later expiry or none needs an admin.");
        }

        return new RuleError("Key changed", $"Key {update.Id} changed while it was being updated. Read it and try again.");
    }

    /// <summary>
    /// Rolls a key in one transaction: a new key with the old one's name, scopes, permissions, meta, enabled state and
    /// expiry (bounded by the calling key's), <c>rolled_from_id</c> set, drawing on the old key's budget (the two share its
    /// credits and rate limit windows); the old key ends <paramref name="graceSeconds"/> from now, never later than it
    /// would have. A member's calling key must hold the old key's permissions (<see cref="HolderRules"/>).
    /// </summary>
    /// <exception cref="NotFoundError">The user has no such key (or the caller may not see it).</exception>
    /// <exception cref="RuleError">The key is revoked, expired or already rolled (409).</exception>
    public async Task<CreatedKeyResponse> RollAsync(UnitOfWork unit, Caller caller, long userId, long keyId, int graceSeconds, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var issued = ApiToken.Generate();
        // Like a create: the new key counts against the cap, counted in turn.
        await unit.Users.LockForNewKeyAsync(userId, cancellationToken).ConfigureAwait(false);
        var old = await unit.Keys.RollAsync(userId, keyId, graceSeconds, cancellationToken).ConfigureAwait(false)
            ?? throw await WhyNotRollableAsync(unit, userId, keyId, cancellationToken).ConfigureAwait(false);
        HolderRules.EnsureHeld(caller, old.Permissions);
        var granted = Grant(caller, new KeyRequest(old.Name, null, old.Scopes));
        var expiresAt = (old.PreviousExpiresAt, granted.ExpiresAt) switch
        {
            ({ } previous, { } bound) => previous < bound ? previous : bound,
            (var previous, var bound) => previous ?? bound,
        };
        var budget = (await LockParentAsync(unit, old.Id, cancellationToken).ConfigureAwait(false)).BudgetKeyId;
        var row = await InsertAsync(unit, new NewApiKey(
            userId, old.Name, issued.Prefix, issued.Hash, expiresAt, granted.Scopes, old.Enabled, old.Permissions, old.Meta, old.Id,
            BudgetKeyId: budget, DisabledByAdmin: old.DisabledByAdmin),
            cancellationToken).ConfigureAwait(false);
        KeyChanged(unit, keyId);
        return CreatedKeyResponse.From(row, issued.Token);
    }

    private static async Task<Exception> WhyNotRollableAsync(UnitOfWork unit, long userId, long keyId, CancellationToken cancellationToken)
    {
        var state = await unit.Keys.GetStateAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        return state switch
        {
            null => new NotFoundError("key", keyId),
            { RevokedAt: not null } => new RuleError("Key revoked", $"Key {keyId} is revoked; a revoked key cannot be rolled. Create a new key instead."),
            { RolledAt: not null } => new RuleError("Key already rolled", $"Key {keyId} was rolled already; roll the key that replaced it instead."),
            _ => new RuleError("Key expired", $"Key {keyId} has expired; an expired key cannot be rolled. Create a new key instead."),
        };
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

    /// <summary>Revokes a key; an admin's revocation also revokes every key its holder derived from it.</summary>
    public async Task<KeyResponse> RevokeAsync(UnitOfWork unit, Caller caller, long userId, long keyId, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, userId);
        var key = await unit.Keys.RevokeAsync(userId, keyId, cancellationToken).ConfigureAwait(false);
        KeyChanged(unit, keyId);
        if (!caller.IsHolder())
        {
            await ImposeOnDerivedAsync(unit, keyId, cancellationToken).ConfigureAwait(false);
        }

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
