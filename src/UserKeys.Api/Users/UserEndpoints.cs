using Microsoft.AspNetCore.Http.HttpResults;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

internal static class UserEndpoints
{
    public static IEndpointRouteBuilder MapUsers(this IEndpointRouteBuilder app)
    {
        var users = app.MapGroup("/v1/users")
            .WithTags("Users");

        // Singletons bound once here, not resolved per request (no request needs a service scope for them).
        var database = app.ServiceProvider.GetRequiredService<UnitOfWorkRunner>();
        var service = app.ServiceProvider.GetRequiredService<UserService>();

        users.MapPost("/", (CreateUserRequest body, Caller caller, CancellationToken cancellationToken) => CreateAsync(body, caller, database, cancellationToken))
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .WithDatabase()
            .WithName("CreateUser")
            .WithSummary("Create a user (admin)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        users.MapGet("/me", (Caller caller) => JsonResults.Ok(UserResponse.From(caller.User)))
            .WithName("GetMe")
            .WithSummary("The calling key's user");

        users.MapGet("/{id:long}", (long id, Caller caller, CancellationToken cancellationToken) => GetAsync(id, caller, database, cancellationToken))
            .ReadsStale()
            .RequireScope(Scopes.UsersRead)
            .WithDatabase()
            .WithName("GetUser")
            .WithSummary("One user (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        users.MapGet("/", (UserListQuery query, CancellationToken cancellationToken) => ListAsync(query, service, database, cancellationToken))
            .ReadsStale()
            .RequireAdmin()
            .RequireScope(Scopes.UsersRead)
            .WithDatabase()
            .WithMetadata(new ResponseAlternativesMetadata(typeof(UserPageResponse), typeof(UserOffsetPageResponse), typeof(UserLookupResponse)))
            .WithName("ListUsers")
            .WithSummary("Look a user up by email, or page through users (admin)")
            .WithDescription("""
                `?email=` looks one user up (case-insensitively): `{"items": [user]}` with 0 or 1 item.
                Otherwise pages newest first (created_at, then id, descending). Keyset paging is the default:
                `limit` 1..100 (default 50) and `after`, the opaque `next_cursor` of the previous page
                (`null` on the last page): `{"items", "next_cursor"}`. `offset` (0..) switches to offset paging:
                `{"items", "total", "limit", "offset"}`. `include=keys` adds every user's keys, loaded in one
                extra statement whatever the page size.
                """)
            .ProducesValidationProblem();

        users.MapPatch("/{id:long}", (long id, UpdateUserRequest body, Caller caller, CancellationToken cancellationToken) =>
                UpdateAsync(id, body, caller, service, database, cancellationToken))
            .RequireScope(Scopes.UsersWrite)
            .WithDatabase()
            .WithName("UpdateUser")
            .WithSummary("Change email, name and, for admins, role and usage limits (admin, or the user itself)")
            .WithDescription("""
                `role` needs an admin key that holds every user and key scope (403 otherwise). `remaining`, `refill` and
                `rate_limits` apply to every verification of every key of the user, beside each key's own; admins only.
                """)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        users.MapDelete("/{id:long}", (long id, Caller caller, CancellationToken cancellationToken) => DeleteAsync(id, caller, service, database, cancellationToken))
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .WithDatabase()
            .WithName("DeleteUser")
            .WithSummary("Delete a user and its keys (admin)")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        return app;
    }

    private static async Task<JsonCreated<UserResponse>> CreateAsync(
        CreateUserRequest body, Caller caller, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        UserService.EnsureMaySet(caller, body.Role, body.UserLimits);
        var user = await database.WriteAsync(caller.Actor,
            unit => unit.Users.CreateAsync(new NewUser(body.Email, body.Name, body.Role ?? Roles.Member, body.UserLimits), cancellationToken), cancellationToken);
        return JsonResults.Created($"/v1/users/{user.Id}", UserResponse.From(user));
    }

    /// <summary>The caller's own user comes with its key: no statement.</summary>
    private static async Task<JsonOk<UserResponse>> GetAsync(long id, Caller caller, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, id);
        var user = id == caller.UserId
            ? caller.User
            : await database.ReadStaleAsync(UnitOfWorkMode.SingleStatement, unit => unit.Users.GetAsync(id, cancellationToken), cancellationToken);
        return JsonResults.Ok(UserResponse.From(user));
    }

    private static Task<Results<JsonOk<UserPageResponse>, JsonOk<UserOffsetPageResponse>, JsonOk<UserLookupResponse>>> ListAsync(
        UserListQuery query, UserService users, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        database.ReadStaleAsync(query.Mode, unit => users.ListAsync(unit, query, cancellationToken), cancellationToken);

    private static async Task<JsonOk<UserResponse>> UpdateAsync(
        long id, UpdateUserRequest body, Caller caller, UserService users, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        var update = new UserUpdate(id, body.Email.Value, body.Name.IsSet, body.Name.Value, body.Role.Value, body.UserLimits);
        var user = await database.WriteAsync(caller.Actor, unit => users.UpdateAsync(unit, caller, update, cancellationToken), cancellationToken);
        return JsonResults.Ok(UserResponse.From(user));
    }

    private static async Task<NoContent> DeleteAsync(long id, Caller caller, UserService users, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        await database.WriteAsync(caller.Actor, async unit =>
        {
            await users.DeleteAsync(unit, id, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
        return TypedResults.NoContent();
    }
}
