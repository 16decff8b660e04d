using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>What the user endpoints do, on the request's unit of work. Never commits: the request boundary does.</summary>
internal sealed class UserService(RequestUnitOfWork request, UserCursor cursors, AuthCache authCache)
{
    private UnitOfWork Unit => request.Current;

    public Task<UserRow> CreateAsync(NewUser user, CancellationToken cancellationToken) =>
        Unit.Users.CreateAsync(user, cancellationToken);

    /// <exception cref="NotFoundError">The user does not exist, or the caller may not see it.</exception>
    public Task<UserRow> GetAsync(Caller caller, long id, CancellationToken cancellationToken)
    {
        EnsureCanActOn(caller, id);
        return id == caller.UserId ? Task.FromResult(caller.User) : Unit.Users.GetAsync(id, cancellationToken);
    }

    public async Task<UserLookupResponse> FindByEmailAsync(string email, bool includeKeys, CancellationToken cancellationToken)
    {
        var user = await Unit.Users.FindByEmailAsync(email, cancellationToken).ConfigureAwait(false);
        return new UserLookupResponse(user is null ? [] : await WithKeysAsync([user], includeKeys, cancellationToken).ConfigureAwait(false));
    }

    public async Task<UserPageResponse> ListPageAsync(int limit, string? after, bool includeKeys, CancellationToken cancellationToken)
    {
        await cursors.EnsureKeyAsync(Unit, cancellationToken).ConfigureAwait(false);
        UserPosition? position = null;
        if (after is not null)
        {
            if (!cursors.TryDecode(after, out var decoded))
            {
                throw new ValidationError("after", "is not a cursor this service issued (pass next_cursor from the previous page unchanged)");
            }

            position = decoded;
        }

        // One row more than the page tells whether a next page exists, without a count.
        var rows = position is { } from
            ? await Unit.Users.ListPageAfterAsync(from, limit + 1, cancellationToken).ConfigureAwait(false)
            : await Unit.Users.ListFirstPageAsync(limit + 1, cancellationToken).ConfigureAwait(false);
        var page = rows.Count > limit ? rows.Take(limit).ToList() : rows;
        var next = rows.Count > limit ? cursors.Encode(new UserPosition(page[^1].CreatedAt, page[^1].Id)) : null;
        return new UserPageResponse(await WithKeysAsync(page, includeKeys, cancellationToken).ConfigureAwait(false), next);
    }

    public async Task<UserOffsetPageResponse> ListOffsetPageAsync(int limit, int offset, bool includeKeys, CancellationToken cancellationToken)
    {
        var total = await Unit.Users.CountAsync(cancellationToken).ConfigureAwait(false);
        var page = await Unit.Users.ListPageByOffsetAsync(limit, offset, cancellationToken).ConfigureAwait(false);
        return new UserOffsetPageResponse(await WithKeysAsync(page, includeKeys, cancellationToken).ConfigureAwait(false), total, limit, offset);
    }

    /// <exception cref="ForbiddenError">A member tried to change a role.</exception>
    public async Task<UserRow> UpdateAsync(Caller caller, UserUpdate update, CancellationToken cancellationToken)
    {
        EnsureCanActOn(caller, update.Id);
        if (update.Role is not null && !caller.IsAdmin)
        {
            throw new ForbiddenError("Only an admin may change a role.");
        }

        var user = await Unit.Users.UpdateAsync(update, cancellationToken).ConfigureAwait(false);
        await UserChangedAsync(update.Id, cancellationToken).ConfigureAwait(false);
        return user;
    }

    public async Task DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await Unit.Users.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
        await UserChangedAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Cached credentials carry the user's role and email: drop them here now, everywhere on commit.</summary>
    private async Task UserChangedAsync(long userId, CancellationToken cancellationToken)
    {
        await Unit.AuthChanges.UserChangedAsync(userId, cancellationToken).ConfigureAwait(false);
        request.AfterCommit(() => authCache.EvictUser(userId));
    }

    /// <summary>A member asking for another user gets 404: whether that user exists is none of its business.</summary>
    public static void EnsureCanActOn(Caller caller, long userId)
    {
        if (!caller.CanActOn(userId))
        {
            throw new NotFoundError("user", userId);
        }
    }

    /// <summary>The users, with their keys when asked: ONE extra statement for the whole page, whatever its size.</summary>
    private async Task<IReadOnlyList<UserResponse>> WithKeysAsync(IReadOnlyList<UserRow> users, bool includeKeys, CancellationToken cancellationToken)
    {
        if (!includeKeys)
        {
            return users.Select(user => UserResponse.From(user)).ToList();
        }

        var keys = users.Count == 0
            ? []
            : await Unit.Keys.ListByUsersAsync(users.Select(user => user.Id).ToList(), cancellationToken).ConfigureAwait(false);
        var byUser = keys.ToLookup(key => key.UserId);
        return users.Select(user => UserResponse.From(user, byUser[user.Id].Select(KeyResponse.From).ToList())).ToList();
    }
}
