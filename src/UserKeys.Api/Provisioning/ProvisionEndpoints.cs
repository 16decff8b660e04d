using Microsoft.AspNetCore.Http.HttpResults;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Keys;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Provisioning;

/// <summary><c>POST /v1/provision</c>: a user and its first key.</summary>
public sealed record ProvisionRequest(string Email, string? Name, string? Role, string? KeyName, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes);

public sealed record ProvisionResponse(UserResponse User, CreatedKeyResponse Key);

internal static class ProvisionEndpoints
{
    public static IEndpointRouteBuilder MapProvisioning(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/provision", ProvisionAsync)
            .WithTags("Users")
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .RequireScope(Scopes.KeysWrite)
            .AddEndpointFilter<UnitOfWorkFilter>()
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("Provision")
            .WithSummary("Create a user and its first key in one transaction (admin)")
            .WithDescription("Either both are created or neither: when the key cannot be issued, the user is not created either.")
            .WithJsonBody<ProvisionRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return app;
    }

    private static async Task<Created<ProvisionResponse>> ProvisionAsync(
        JsonBody body, Caller caller, UserService users, KeyService keys, TimeProvider clock, CancellationToken cancellationToken)
    {
        var email = UserInput.ReadEmail(body, required: true);
        var name = UserInput.ReadName(body);
        var role = UserInput.ReadRole(body) ?? Roles.Member;
        var key = KeyService.ReadKeyFields(body, "key_name", clock.GetUtcNow().UtcDateTime);
        body.ThrowIfInvalid();

        // One transaction (the request's unit of work): a failure issuing the key rolls the user back.
        var user = await users.CreateAsync(new NewUser(email!, name, role), cancellationToken);
        var created = await keys.CreateAsync(caller, user.Id, key, cancellationToken);
        return TypedResults.Created($"/v1/users/{user.Id}", new ProvisionResponse(UserResponse.From(user), created));
    }
}
