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
            var created = await Connection.QuerySingleAsync<(long Id, DateTime CreatedAt)>(Command(
                SqlCatalog.Users.Insert,
                new { email = user.Email, name = user.Name, role = user.Role },
                cancellationToken)).ConfigureAwait(false);
            return new UserRow { Id = created.Id, Email = user.Email, Name = user.Name, Role = user.Role, CreatedAt = created.CreatedAt };
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

    /// <exception cref="NotFoundError">No user has this id.</exception>
    /// <exception cref="ConflictError">The new email is taken.</exception>
    public async Task<UserRow> UpdateAsync(UserUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        try
        {
            return await Connection.QuerySingleOrDefaultAsync<UserRow>(Command(
                    SqlCatalog.Users.Update,
                    new { id = update.Id, email = update.Email, set_name = update.SetName, name = update.Name, role = update.Role },
                    cancellationToken)).ConfigureAwait(false)
                ?? throw new NotFoundError("user", update.Id);
        }
        catch (PostgresException error) when (PostgresErrorMap.TryMapUnique(error, out var mapped))
        {
            throw mapped;
        }
        catch (PostgresException error) when (PostgresErrorMap.IsLastAdmin(error))
        {
            throw PostgresErrorMap.LastAdmin();
        }
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
