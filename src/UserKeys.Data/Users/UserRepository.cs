using System.Data;
using Dapper;
using Npgsql;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Users;

/// <summary>The users table: one method, one statement of <see cref="SqlCatalog.Users"/>.</summary>
public sealed class UserRepository(IDbConnection connection, IDbTransaction? transaction)
    : Repository(connection, transaction)
{
    /// <exception cref="ConflictError">The email is taken (case-insensitively).</exception>
    public async Task<UserRow> CreateAsync(NewUser user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        try
        {
            var limits = user.Limits ?? UserLimits.None;
            return await Connection.QuerySingleAsync<UserRow>(Command(
                SqlCatalog.Users.Insert,
                new
                {
                    email = user.Email, name = user.Name, role = user.Role, remaining = limits.Remaining ?? limits.RefillAmount,
                    refill_interval = limits.RefillInterval, refill_amount = limits.RefillAmount,
                    rate_limits = (limits.RateLimits ?? Keys.RateLimitRules.None).ToJson(),
                },
                cancellationToken)).ConfigureAwait(false);
        }
        catch (PostgresException error) when (PostgresErrorMap.TryMapUnique(error, out var mapped))
        {
            throw mapped;
        }
    }

    /// <exception cref="NotFoundError">No user has this id.</exception>
    public async Task<UserRow> GetAsync(long id, CancellationToken cancellationToken) =>
        await Connection.QuerySingleOrDefaultAsync<UserRow>(Command(SqlCatalog.Users.GetById, new { id }, cancellationToken))
            .ConfigureAwait(false)
        ?? throw new NotFoundError("user", id);

    /// <summary>The user with this email, compared case-insensitively, or null.</summary>
    public Task<UserRow?> FindByEmailAsync(string email, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<UserRow?>(Command(SqlCatalog.Users.FindByEmail, new { email }, cancellationToken));

    /// <summary>Applies a partial update.</summary>
    /// <exception cref="NotFoundError">No user has this id.</exception>
    /// <exception cref="ConflictError">The new email is taken.</exception>
    /// <exception cref="RuleError">The update would make a user with a refill unlimited without clearing the refill.</exception>
    public async Task<UserRow> UpdateAsync(UserUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        var limits = update.Limits ?? UserLimits.None;
        try
        {
            var row = await Connection.QuerySingleOrDefaultAsync<UserRow>(Command(
                    SqlCatalog.Users.Update,
                    new
                    {
                        id = update.Id, email = update.Email, set_name = update.SetName, name = update.Name, role = update.Role,
                        set_remaining = limits.SetRemaining, remaining = limits.Remaining, set_refill = limits.SetRefill,
                        refill_interval = limits.RefillInterval, refill_amount = limits.RefillAmount, rate_limits = limits.RateLimits?.ToJson(),
                    },
                    cancellationToken)).ConfigureAwait(false);
            if (row is not null)
            {
                return row;
            }
        }
        catch (PostgresException error) when (PostgresErrorMap.TryMapUnique(error, out var mapped))
        {
            throw mapped;
        }
        catch (PostgresException error) when (PostgresErrorMap.IsLastAdmin(error))
        {
            throw PostgresErrorMap.LastAdmin();
        }

        // Nothing matched: no such user (404), or the update would make a user with a refill unlimited.
        await GetAsync(update.Id, cancellationToken).ConfigureAwait(false);
        throw new RuleError("Refill set", $"User {update.Id} has a refill: clear it in the same request to make it unlimited.");
    }

    /// <summary>Locks the user's row until the transaction ends, before it is issued a key (see keys/insert).</summary>
    /// <exception cref="NotFoundError">No user has this id.</exception>
    public async Task LockForNewKeyAsync(long id, CancellationToken cancellationToken)
    {
        if (await Connection.QuerySingleOrDefaultAsync<long?>(Command(SqlCatalog.Users.LockForNewKey, new { id }, cancellationToken)).ConfigureAwait(false) is null)
        {
            throw new NotFoundError("user", id);
        }
    }

    /// <summary>Deletes the user and, by cascade, its keys.</summary>
    /// <exception cref="NotFoundError">No user has this id.</exception>
    /// <exception cref="RuleError">The user is the last admin.</exception>
    public async Task DeleteAsync(long id, CancellationToken cancellationToken)
    {
        int deleted;
        try
        {
            deleted = await Connection.ExecuteAsync(Command(SqlCatalog.Users.Delete, new { id }, cancellationToken)).ConfigureAwait(false);
        }
        catch (PostgresException error) when (PostgresErrorMap.IsLastAdmin(error))
        {
            throw PostgresErrorMap.LastAdmin();
        }

        if (deleted == 0)
        {
            throw new NotFoundError("user", id);
        }
    }

    /// <summary>Leases credits of a user's own budget, like <see cref="Keys.ApiKeyRepository.LeaseCreditsAsync"/>; null when the user does not exist or is unlimited.</summary>
    public Task<Keys.CreditLease?> LeaseCreditsAsync(long id, long need, long want, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<Keys.CreditLease?>(Command(SqlCatalog.Credits.LeaseUser, new { id, need, want }, cancellationToken));

    /// <summary>Returns leased, unused units of a user's credits, like <see cref="Keys.ApiKeyRepository.GiveBackCreditsAsync"/>.</summary>
    public Task<int> GiveBackCreditsAsync(long id, long units, int epoch, Guid operationId, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.Credits.GiveBackUser, new { id, units, epoch, operation_id = operationId }, cancellationToken));

    /// <summary>What a user has left of its own credits (a due refill counted), read without a lock; null when unlimited or gone.</summary>
    public Task<long?> AvailableCreditsAsync(long id, CancellationToken cancellationToken) =>
        Connection.QuerySingleOrDefaultAsync<long?>(Command(SqlCatalog.Credits.AvailableUser, new { id }, cancellationToken));

    /// <summary>Leases units of one of a user's rate limits in its current window (the database's clock decides which); null when the user is gone.</summary>
    public Task<Keys.RateLimitLease?> LeaseRateLimitAsync(long userId, Keys.RateLimitRule rule, long need, long want, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return Connection.QuerySingleOrDefaultAsync<Keys.RateLimitLease?>(Command(
            SqlCatalog.RateLimits.LeaseUser,
            new { user_id = userId, name = rule.Name, limit = rule.Limit, duration_ms = rule.DurationMs, need, want },
            cancellationToken));
    }

    public Task<long> CountAsync(CancellationToken cancellationToken) =>
        Connection.ExecuteScalarAsync<long>(Command(SqlCatalog.Users.Count, null, cancellationToken));

    /// <summary>The newest <paramref name="limit"/> users, newest first (ties by id, highest first).</summary>
    public async Task<IReadOnlyList<UserRow>> ListFirstPageAsync(int limit, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<UserRow>(Command(SqlCatalog.Users.ListFirstPage, new { limit }, cancellationToken))
            .ConfigureAwait(false)).AsList();

    /// <summary>Up to <paramref name="limit"/> users that come after <paramref name="after"/> in listing order.</summary>
    public async Task<IReadOnlyList<UserRow>> ListPageAfterAsync(UserPosition after, int limit, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<UserRow>(Command(
            SqlCatalog.Users.ListPageAfter,
            new { after_created_at = after.CreatedAt, after_id = after.Id, limit },
            cancellationToken)).ConfigureAwait(false)).AsList();

    /// <summary>An offset page in listing order.</summary>
    public async Task<IReadOnlyList<UserRow>> ListPageByOffsetAsync(int limit, int offset, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<UserRow>(Command(SqlCatalog.Users.ListPageByOffset, new { limit, offset }, cancellationToken))
            .ConfigureAwait(false)).AsList();

    /// <summary>The user with this email (case-insensitively) and all its keys, in one statement; null when none.</summary>
    public async Task<UserWithKeys?> FindByEmailWithKeysAsync(string email, CancellationToken cancellationToken) =>
        UserKeyJoinRow.Group(await Connection.QueryAsync<UserKeyJoinRow>(Command(SqlCatalog.Users.FindByEmailWithKeys, new { email }, cancellationToken))
            .ConfigureAwait(false)).SingleOrDefault();

    /// <summary>The newest <paramref name="limit"/> users with all their keys, in one statement.</summary>
    public async Task<IReadOnlyList<UserWithKeys>> ListFirstPageWithKeysAsync(int limit, CancellationToken cancellationToken) =>
        UserKeyJoinRow.Group(await Connection.QueryAsync<UserKeyJoinRow>(Command(SqlCatalog.Users.ListFirstPageWithKeys, new { limit }, cancellationToken))
            .ConfigureAwait(false));

    /// <summary>Up to <paramref name="limit"/> users after <paramref name="after"/>, with all their keys, in one statement.</summary>
    public async Task<IReadOnlyList<UserWithKeys>> ListPageAfterWithKeysAsync(UserPosition after, int limit, CancellationToken cancellationToken) =>
        UserKeyJoinRow.Group(await Connection.QueryAsync<UserKeyJoinRow>(Command(
            SqlCatalog.Users.ListPageAfterWithKeys,
            new { after_created_at = after.CreatedAt, after_id = after.Id, limit },
            cancellationToken)).ConfigureAwait(false));

    /// <summary>An offset page of users with all their keys, in one statement.</summary>
    public async Task<IReadOnlyList<UserWithKeys>> ListPageByOffsetWithKeysAsync(int limit, int offset, CancellationToken cancellationToken) =>
        UserKeyJoinRow.Group(await Connection.QueryAsync<UserKeyJoinRow>(Command(
            SqlCatalog.Users.ListPageByOffsetWithKeys, new { limit, offset }, cancellationToken)).ConfigureAwait(false));
}
