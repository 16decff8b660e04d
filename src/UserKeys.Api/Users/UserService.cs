using Microsoft.AspNetCore.Http.HttpResults;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>
/// What the user endpoints do beyond one repository call, on the unit of work they are given. Never
/// commits: <see cref="UnitOfWorkRunner"/> does, at the request boundary.
/// </summary>
internal sealed class UserService(UserCursor cursors, AuthCache authCache)
{
    /// <summary>The listing <paramref name="query"/> asks for: a lookup, an offset page or a keyset page.</summary>
    public async Task<Results<JsonOk<UserPageResponse>, JsonOk<UserOffsetPageResponse>, JsonOk<UserLookupResponse>>> ListAsync(
        UnitOfWork unit, UserListQuery query, CancellationToken cancellationToken)
    {
        if (query.Email is { } email)
        {
            return JsonResults.Ok(await FindByEmailAsync(unit, email, query.IncludeKeys, cancellationToken).ConfigureAwait(false));
        }

        if (query.Offset is { } offset)
        {
            return JsonResults.Ok(await ListOffsetPageAsync(unit, query.Limit, offset, query.IncludeKeys, cancellationToken).ConfigureAwait(false));
        }

        return JsonResults.Ok(await ListPageAsync(unit, query.Limit, query.After, query.IncludeKeys, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<UserLookupResponse> FindByEmailAsync(UnitOfWork unit, string email, bool includeKeys, CancellationToken cancellationToken)
    {
        if (includeKeys)
        {
            var found = await unit.Users.FindByEmailWithKeysAsync(email, cancellationToken).ConfigureAwait(false);
            return new UserLookupResponse(found is null ? [] : [Respond(found)]);
        }

        var user = await unit.Users.FindByEmailAsync(email, cancellationToken).ConfigureAwait(false);
        return new UserLookupResponse(user is null ? [] : [UserResponse.From(user)]);
    }

    private async Task<UserPageResponse> ListPageAsync(UnitOfWork unit, int limit, string? after, bool includeKeys, CancellationToken cancellationToken)
    {
        await cursors.EnsureKeyAsync(unit, cancellationToken).ConfigureAwait(false);
        UserPosition? position = null;
        if (after is not null)
        {
            if (!cursors.TryDecode(after, out var decoded))
            {
                throw new ValidationError("after", "is not a cursor this service issued (pass next_cursor from the previous page unchanged)");
            }

            position = decoded;
        }

        // One user more than the page tells whether a next page exists, without a count.
        var users = unit.Users;
        IReadOnlyList<UserWithKeys> rows = includeKeys
            ? position is { } from
                ? await users.ListPageAfterWithKeysAsync(from, limit + 1, cancellationToken).ConfigureAwait(false)
                : await users.ListFirstPageWithKeysAsync(limit + 1, cancellationToken).ConfigureAwait(false)
            : (position is { } start
                ? await users.ListPageAfterAsync(start, limit + 1, cancellationToken).ConfigureAwait(false)
                : await users.ListFirstPageAsync(limit + 1, cancellationToken).ConfigureAwait(false))
                .Select(user => new UserWithKeys(user, [])).ToList();
        var page = rows.Take(limit).ToList();
        var next = rows.Count > limit ? cursors.Encode(new UserPosition(page[^1].User.CreatedAt, page[^1].User.Id)) : null;
        return new UserPageResponse(page.Select(user => includeKeys ? Respond(user) : UserResponse.From(user.User)).ToList(), next);
    }

    private static async Task<UserOffsetPageResponse> ListOffsetPageAsync(UnitOfWork unit, int limit, int offset, bool includeKeys, CancellationToken cancellationToken)
    {
        // Two statements, one snapshot (the unit of work is ReadOnly): the total matches the page.
        var total = await unit.Users.CountAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<UserResponse> page = includeKeys
            ? (await unit.Users.ListPageByOffsetWithKeysAsync(limit, offset, cancellationToken).ConfigureAwait(false)).Select(Respond).ToList()
            : (await unit.Users.ListPageByOffsetAsync(limit, offset, cancellationToken).ConfigureAwait(false)).Select(user => UserResponse.From(user)).ToList();
        return new UserOffsetPageResponse(page, total, limit, offset);
    }

    /// <exception cref="ForbiddenError">A member tried to change a role or the limits, or an admin with a key short of every scope a role.</exception>
    public async Task<UserRow> UpdateAsync(UnitOfWork unit, Caller caller, UserUpdate update, CancellationToken cancellationToken)
    {
        EnsureCanActOn(caller, update.Id);
        EnsureMaySet(caller, update.Role, update.Limits);

        if (update.Email is { } email
            && await unit.Users.FindByEmailAsync(email, cancellationToken).ConfigureAwait(false) is { } holder && holder.Id != update.Id)
        {
            // Taken already: answer without locking anything. Two users swapping emails would otherwise
            // deadlock in the unique index (each waits on the other's row) until PostgreSQL breaks the
            // cycle a second later, over and over under load. The index still decides any race left.
            throw new ConflictError("email", "A user with this email already exists.");
        }

        if (update.Limits is { SetRemaining: true, Remaining: null, SetRefill: false }
            && await unit.Users.GetAsync(update.Id, cancellationToken).ConfigureAwait(false) is { RefillInterval: not null })
        {
            throw new ValidationError("remaining", "must not be null while the user has a refill (clear refill in the same request)");
        }

        var user = await unit.Users.UpdateAsync(update, cancellationToken).ConfigureAwait(false);
        UserChanged(unit, update.Id);
        return user;
    }

    /// <summary>
    /// A role and usage limits are for admins (403 for a member); setting a role, the most powerful act there is, also
    /// needs a calling key that holds every user and key scope (403 naming what it lacks).
    /// </summary>
    public static void EnsureMaySet(Caller caller, string? role, UserLimits? limits)
    {
        if (role is not null && !caller.IsAdmin)
        {
            throw new ForbiddenError("Only an admin may change a role.");
        }

        if (limits is { SetsAny: true } && !caller.IsAdmin)
        {
            throw new ForbiddenError("Only an admin may set a user's remaining, refill or rate_limits.");
        }

        if (role is not null && Scopes.All.Where(scope => !caller.Key.Scopes.Contains(scope, StringComparer.Ordinal)).ToList() is { Count: > 0 } missing)
        {
            throw new ForbiddenError(
                $"Setting a role needs a key that holds every user and key scope: this key lacks {string.Join(", ", missing.Select(scope => $"'{scope}'"))}.");
        }
    }

    public async Task DeleteAsync(UnitOfWork unit, long id, CancellationToken cancellationToken)
    {
        await unit.Users.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
        UserChanged(unit, id);
    }

    /// <summary>
    /// Cached credentials carry the user's role and email: drop them on this instance right after the
    /// commit; every instance also hears the trigger's notification.
    /// </summary>
    private void UserChanged(UnitOfWork unit, long userId) => unit.AfterCommit(() => authCache.EvictUser(userId));

    /// <summary>A member asking for another user gets 404: whether that user exists is none of its business.</summary>
    public static void EnsureCanActOn(Caller caller, long userId)
    {
        if (!caller.CanActOn(userId))
        {
            throw new NotFoundError("user", userId);
        }
    }

    private static UserResponse Respond(UserWithKeys user) =>
        UserResponse.From(user.User, user.Keys.Select(KeyResponse.From).ToList());
}
