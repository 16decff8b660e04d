using Microsoft.AspNetCore.Http.HttpResults;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Keys;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Provisioning;

/// <summary><c>POST /v1/provision</c>: a user (as <see cref="CreateUserRequest"/>) and its first key (as <see cref="CreateKeyRequest"/>).</summary>
public sealed record ProvisionRequest : NewUserFields, IRequestBody<ProvisionRequest>
{
    [CodePoints(KeyService.NameMaxLength, Trim = true)]
    public string? KeyName { get; init => field = Text.TrimToNull(value); }

    [Future]
    public DateTimeOffset? ExpiresAt { get; init; }

    [ScopeList]
    public IReadOnlyList<string>? Scopes { get; init; }
}

public sealed record ProvisionResponse(UserResponse User, CreatedKeyResponse Key);

internal static class ProvisionEndpoints
{
    public static IEndpointRouteBuilder MapProvisioning(this IEndpointRouteBuilder app)
    {
        var database = app.ServiceProvider.GetRequiredService<UnitOfWorkRunner>();
        var service = app.ServiceProvider.GetRequiredService<KeyService>();
        app.MapPost("/v1/provision", (ProvisionRequest body, Caller caller, CancellationToken cancellationToken) =>
                ProvisionAsync(body, caller, service, database, cancellationToken))
            .WithTags("Users")
            .RequireAdmin()
            .RequireScope(Scopes.UsersWrite)
            .RequireScope(Scopes.KeysWrite)
            .WithDatabase()
            .WithName("Provision")
            .WithSummary("Create a user and its first key in one transaction (admin)")
            .WithDescription("Either both are created or neither: when the key cannot be issued, the user is not created either.")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return app;
    }

    private static async Task<JsonCreated<ProvisionResponse>> ProvisionAsync(
        ProvisionRequest body, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        UserService.EnsureMaySet(caller, body.Role, body.UserLimits);
        var key = new KeyRequest(body.KeyName, body.ExpiresAt?.UtcDateTime, body.Scopes);
        // One transaction: a failure issuing the key rolls the user back.
        var response = await database.WriteAsync(caller.Actor, async unit =>
        {
            var user = await unit.Users.CreateAsync(new NewUser(body.Email, body.Name, body.Role ?? Roles.Member, body.UserLimits), cancellationToken).ConfigureAwait(false);
            var created = await keys.CreateAsync(unit, caller, user.Id, key, cancellationToken).ConfigureAwait(false);
            return new ProvisionResponse(UserResponse.From(user), created);
        }, cancellationToken);
        return JsonResults.Created($"/v1/users/{response.User.Id}", response);
    }
}
