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
            .WithTags("Users")
            .AddEndpointFilter<UnitOfWorkFilter>();

        users.MapPost("/", CreateAsync)
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("CreateUser")
            .WithSummary("Create a user (admin)")
            .WithJsonBody<CreateUserRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        users.MapGet("/me", (Caller caller) => TypedResults.Ok(UserResponse.From(caller.User)))
            .RequireAuthorization()
            .WithUnitOfWork(UnitOfWorkMode.SingleStatement)
            .WithName("GetMe")
            .WithSummary("The calling key's user");

        users.MapGet("/{id:long}", GetAsync)
            .RequireScope(Scopes.UsersRead)
            .WithUnitOfWork(UnitOfWorkMode.SingleStatement)
            .WithName("GetUser")
            .WithSummary("One user (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        users.MapGet("/", ListAsync)
            .RequireAdmin()
            .RequireScope(Scopes.UsersRead)
            .WithUnitOfWork(UserListQuery.ModeFor)
            .WithMetadata(new QueryParametersMetadata(
                new("email", "string", "Look one user up by email, case-insensitively (not with limit, after or offset)"),
                new("limit", "integer", $"Page size, 1 to {UserListQuery.MaxLimit} (default {UserListQuery.DefaultLimit})", 1, UserListQuery.MaxLimit),
                new("after", "string", "The next_cursor of the previous page (keyset paging; not with offset)"),
                new("offset", "integer", "Rows to skip (offset paging, with total; not with after)", 0, int.MaxValue),
                new("include", "string", "'keys' adds each user's keys")))
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

        users.MapPatch("/{id:long}", UpdateAsync)
            .RequireScope(Scopes.UsersWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("UpdateUser")
            .WithSummary("Change email, name and, for admins, role (admin, or the user itself)")
            .WithJsonBody<UpdateUserRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        users.MapDelete("/{id:long}", DeleteAsync)
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("DeleteUser")
            .WithSummary("Delete a user and its keys (admin)")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        return app;
    }

    private static async Task<Created<UserResponse>> CreateAsync(JsonBody body, UserService users, CancellationToken cancellationToken)
    {
        var email = UserInput.ReadEmail(body, required: true);
        var name = UserInput.ReadName(body);
        var role = UserInput.ReadRole(body) ?? Roles.Member;
        body.ThrowIfInvalid();

        var user = await users.CreateAsync(new NewUser(email!, name, role), cancellationToken);
        return TypedResults.Created($"/v1/users/{user.Id}", UserResponse.From(user));
    }

    private static async Task<Ok<UserResponse>> GetAsync(long id, Caller caller, UserService users, CancellationToken cancellationToken) =>
        TypedResults.Ok(UserResponse.From(await users.GetAsync(caller, id, cancellationToken)));

    private static async Task<Results<Ok<UserPageResponse>, Ok<UserOffsetPageResponse>, Ok<UserLookupResponse>>> ListAsync(
        HttpRequest request, UserService users, CancellationToken cancellationToken)
    {
        var query = UserListQuery.Parse(request.Query);
        if (query.Email is { } email)
        {
            return TypedResults.Ok(await users.FindByEmailAsync(email, query.IncludeKeys, cancellationToken));
        }

        if (query.Offset is { } offset)
        {
            return TypedResults.Ok(await users.ListOffsetPageAsync(query.Limit, offset, query.IncludeKeys, cancellationToken));
        }

        return TypedResults.Ok(await users.ListPageAsync(query.Limit, query.After, query.IncludeKeys, cancellationToken));
    }

    private static async Task<Ok<UserResponse>> UpdateAsync(long id, JsonBody body, Caller caller, UserService users, CancellationToken cancellationToken)
    {
        var email = UserInput.ReadEmail(body, required: false);
        if (body.Has("email") && email is null && !body.HasErrors("email"))
        {
            body.AddError("email", "must not be null");
        }

        var setName = body.Has("name");
        var name = UserInput.ReadName(body);
        var role = UserInput.ReadRole(body);
        if (body.Has("role") && role is null && !body.HasErrors("role"))
        {
            body.AddError("role", "must not be null");
        }

        body.ThrowIfInvalid();
        var user = await users.UpdateAsync(caller, new UserUpdate(id, email, setName, name, role), cancellationToken);
        return TypedResults.Ok(UserResponse.From(user));
    }

    private static async Task<NoContent> DeleteAsync(long id, UserService users, CancellationToken cancellationToken)
    {
        await users.DeleteAsync(id, cancellationToken);
        return TypedResults.NoContent();
    }
}
