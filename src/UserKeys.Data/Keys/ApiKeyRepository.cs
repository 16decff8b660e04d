using System.Data;
using Dapper;
using Npgsql;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Keys;

/// <summary>The api_keys table: one method, one statement of <see cref="SqlCatalog.Keys"/>.</summary>
public sealed class ApiKeyRepository(IDbConnection connection, IDbTransaction? transaction)
    : Repository(connection, transaction)
{
    /// <summary>
    /// Inserts the key unless its user has <paramref name="maxKeys"/> keys already; null then. Lock the
    /// user first (<see cref="Users.UserRepository.LockForNewKeyAsync"/>) so that concurrent inserts count in turn.
    /// </summary>
    /// <exception cref="NotFoundError">The user does not exist (any more).</exception>
    /// <exception cref="ConflictError">A key with the same token hash exists.</exception>
    public async Task<ApiKeyRow?> CreateAsync(NewApiKey key, int maxKeys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            return await Connection.QuerySingleOrDefaultAsync<ApiKeyRow>(Command(
                SqlCatalog.Keys.Insert,
                new
                {
                    user_id = key.UserId, name = key.Name, prefix = key.Prefix, token_hash = key.TokenHash, expires_at = key.ExpiresAt,
                    enabled = key.Enabled, disabled_by_admin = key.DisabledByAdmin, scopes = key.Scopes, permissions = key.Permissions ?? [],
                    meta = key.Meta, rolled_from_id = key.RolledFromId, derived_from_id = key.DerivedFromId, budget_key_id = key.BudgetKeyId, remaining = key.Remaining,
                    refill_interval = key.RefillInterval, refill_amount = key.RefillAmount,
                    rate_limits = (key.RateLimits ?? RateLimitRules.None).ToJson(),
                    max_keys = maxKeys,
                },
                cancellationToken)).ConfigureAwait(false);
        }
        catch (PostgresException error) when (PostgresErrorMap.TryMapUnique(error, out var mapped))
        {
            throw mapped;
        }
        catch (PostgresException error) when (PostgresErrorMap.IsMissingUser(error))
        {
            throw new NotFoundError("user", key.UserId);
        }
    }

    /// <summary>The key whose token hashes to <paramref name="tokenHash"/>, with its user, or null.</summary>
    public Task<ApiKeyWithUserRow?> FindWithUserByTokenHashAsync(byte[] tokenHash, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<ApiKeyWithUserRow?>(Command(
            SqlCatalog.Keys.GetWithUserByTokenHash, new { token_hash = tokenHash }, cancellationToken));

    /// <summary>The keys of <paramref name="ids"/> that exist, with their users, in no particular order.</summary>
    public async Task<IReadOnlyList<ApiKeyWithUserRow>> FindWithUserByIdsAsync(long[] ids, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<ApiKeyWithUserRow>(Command(SqlCatalog.Keys.GetWithUserByIds, new { ids }, cancellationToken))
            .ConfigureAwait(false)).AsList();

    /// <summary>One page of a user's keys, newest first: the first, or the one after key <paramref name="afterId"/>.</summary>
    public async Task<IReadOnlyList<ApiKeyRow>> ListByUserAsync(long userId, long? afterId, int limit, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<ApiKeyRow>(afterId is { } after
            ? Command(SqlCatalog.Keys.ListByUserAfter, new { user_id = userId, after_id = after, limit }, cancellationToken)
            : Command(SqlCatalog.Keys.ListByUserFirstPage, new { user_id = userId, limit }, cancellationToken))
            .ConfigureAwait(false)).AsList();

    /// <summary>Revokes the key; revoking again keeps the first <c>revoked_at</c>.</summary>
    /// <exception cref="NotFoundError">The user has no key with this id.</exception>
    public async Task<ApiKeyRow> RevokeAsync(long userId, long id, CancellationToken cancellationToken) =>
        await Connection.QuerySingleOrDefaultAsync<ApiKeyRow>(Command(SqlCatalog.Keys.Revoke, new { user_id = userId, id }, cancellationToken))
            .ConfigureAwait(false)
        ?? throw new NotFoundError("key", id);

    /// <exception cref="NotFoundError">The user has no key with this id.</exception>
    public async Task DeleteAsync(long userId, long id, CancellationToken cancellationToken)
    {
        var deleted = await Connection.ExecuteAsync(Command(SqlCatalog.Keys.Delete, new { user_id = userId, id }, cancellationToken))
            .ConfigureAwait(false);
        if (deleted == 0)
        {
            throw new NotFoundError("key", id);
        }
    }

    /// <summary>
    /// Applies a partial update; null when nothing matched: the key does not exist, or the scopes asked for are not
    /// a narrowing of its scopes (<see cref="GetStateAsync"/> tells which).
    /// </summary>
    public Task<ApiKeyRow?> UpdateAsync(ApiKeyUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        return Connection.QuerySingleOrDefaultAsync<ApiKeyRow?>(Command(
            SqlCatalog.Keys.Update,
            new
            {
                user_id = update.UserId, id = update.Id, holder = update.Holder, set_name = update.SetName, name = update.Name, enabled = update.Enabled,
                scopes = update.Scopes, permissions = update.Permissions, set_meta = update.SetMeta, meta = update.Meta,
                set_expires_at = update.SetExpiresAt, expires_at = update.ExpiresAt, set_remaining = update.SetRemaining,
                remaining = update.Remaining, set_refill = update.SetRefill, refill_interval = update.RefillInterval,
                refill_amount = update.RefillAmount, rate_limits = update.RateLimits?.ToJson(),
            },
            cancellationToken));
    }

    /// <summary>Where the key stands (revoked, expired, rolled, its scopes), or null when the user has no such key.</summary>
    public Task<ApiKeyState?> GetStateAsync(long userId, long id, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<ApiKeyState?>(Command(SqlCatalog.Keys.GetState, new { user_id = userId, id }, cancellationToken));

    /// <summary>How many keys the user holds (revoked and expired ones included until deleted).</summary>
    public Task<long> CountByUserAsync(long userId, CancellationToken cancellationToken) =>
        Connection.ExecuteScalarAsync<long>(Command(SqlCatalog.Keys.CountByUser, new { user_id = userId }, cancellationToken));

    /// <summary>
    /// The key a new key derives from, as it is now, locked until the transaction ends (an admin's change of it waits),
    /// with its budget's key (which cannot be deleted meanwhile); null when the key is gone or its budget was just passed on.
    /// </summary>
    public Task<ParentKey?> LockParentAsync(long id, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<ParentKey?>(Command(SqlCatalog.Keys.LockParent, new { id }, cancellationToken));

    /// <summary>Applies what an admin imposed on key <paramref name="id"/> to every key derived from it; the ids it changed.</summary>
    public async Task<IReadOnlyList<long>> ImposeOnDerivedAsync(long id, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<long>(Command(SqlCatalog.Keys.ImposeOnDerived, new { id }, cancellationToken)).ConfigureAwait(false)).AsList();

    /// <summary>
    /// Marks a live key rolled and ends it <paramref name="graceSeconds"/> from now (never later than it ended);
    /// null when the key does not exist or is revoked, expired or already rolled.
    /// </summary>
    public Task<RolledApiKeyRow?> RollAsync(long userId, long id, int graceSeconds, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<RolledApiKeyRow?>(Command(
            SqlCatalog.Keys.Roll, new { user_id = userId, id, grace_seconds = graceSeconds }, cancellationToken));

    /// <summary>
    /// Leases credits of a limited key (a budget's key: <see cref="ApiKeyRow.BudgetKeyId"/>) (refilling them first when a new UTC period began): nothing when fewer than
    /// <paramref name="need"/> are left, else between <paramref name="need"/> and the larger of <paramref name="want"/>
    /// and an eighth of what is left. Null when the key does not exist or is unlimited. Run it outside a transaction.
    /// </summary>
    public Task<CreditLease?> LeaseCreditsAsync(long id, long need, long want, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<CreditLease?>(Command(SqlCatalog.Credits.Lease, new { id, need, want }, cancellationToken));

    /// <summary>
    /// Returns leased, unused units, unless the key's credits were set outright since (another epoch), or
    /// <paramref name="operationId"/> was applied already (a retry): 0 rows then.
    /// </summary>
    public Task<int> GiveBackCreditsAsync(long id, long units, int epoch, Guid operationId, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.Credits.GiveBack, new { id, units, epoch, operation_id = operationId }, cancellationToken));

    /// <summary>What a budget's key has left to lease (a due refill counted), read without a lock; null when it has no limit or is gone.</summary>
    public Task<long?> AvailableCreditsAsync(long id, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<long?>(Command(SqlCatalog.Credits.Available, new { id }, cancellationToken));

    /// <summary>
    /// Leases units of one rate limit's current window (the database's clock decides which window); null when
    /// <paramref name="keyId"/> is no longer a budget's key.
    /// </summary>
    public Task<RateLimitLease?> LeaseRateLimitAsync(long keyId, RateLimitRule rule, long need, long want, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return Connection.QuerySingleOrDefaultAsync<RateLimitLease?>(Command(
            SqlCatalog.RateLimits.Lease,
            new { key_id = keyId, name = rule.Name, limit = rule.Limit, duration_ms = rule.DurationMs, need, want },
            cancellationToken));
    }

    /// <summary>Deletes the rows of windows that ended before <paramref name="before"/>; how many.</summary>
    public Task<int> PurgeRateWindowsAsync(DateTime before, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.RateLimits.PurgeWindows, new { before }, cancellationToken));

    /// <summary>
    /// Records the uses of keys (<paramref name="ids"/>[i] used at <paramref name="usedAt"/>[i], ids distinct): sets
    /// <c>last_used_at</c> unless it is less than a minute older than the use, skipping rows locked by another
    /// transaction; how many rows it wrote.
    /// </summary>
    public Task<int> TouchLastUsedAsync(long[] ids, DateTime[] usedAt, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.Keys.TouchLastUsed, new { ids, used_at = usedAt }, cancellationToken));
}
