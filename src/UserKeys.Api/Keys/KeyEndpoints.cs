using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Users;
using UserKeys.Data;

namespace UserKeys.Api.Keys;

internal static class KeyEndpoints
{
    public static IEndpointRouteBuilder MapKeys(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/v1/users/{id:long}/keys")
            .WithTags("Keys")
            .RequireAuthorization()
            .AddEndpointFilter<UnitOfWorkFilter>();

        keys.MapPost("/", CreateAsync)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("CreateKey")
            .WithSummary("Issue a key; the response is the only time its token is shown (admin, or the user itself)")
            .WithJsonBody<CreateKeyRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        keys.MapGet("/", ListAsync)
            .WithUnitOfWork(UnitOfWorkMode.ReadOnly)
            .WithName("ListKeys")
            .WithSummary("A user's keys, oldest first (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapPost("/{key_id:long}/revoke", RevokeAsync)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("RevokeKey")
            .WithSummary("Revoke a key; revoking again keeps the first revoked_at (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapDelete("/{key_id:long}", DeleteAsync)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("DeleteKey")
            .WithSummary("Delete a key (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapPost("/v1/keys/verify", VerifyAsync)
            .WithTags("Keys")
            .AllowAnonymous()
            .WithMetadata(new DatabaseBackedMetadata())
            .WithName("VerifyKey")
            .WithSummary("Check a token (no authentication): valid with its key and user, or why not")
            .WithJsonBody<VerifyRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        return app;
    }

    private static async Task<Created<CreatedKeyResponse>> CreateAsync(
        long id, JsonBody body, Caller caller, KeyService keys, TimeProvider clock, CancellationToken cancellationToken)
    {
        var (name, expiresAt) = KeyService.ReadKeyFields(body, "name", clock.GetUtcNow().UtcDateTime);
        body.ThrowIfInvalid();

        var key = await keys.CreateAsync(caller, id, name, expiresAt, cancellationToken);
        return TypedResults.Created($"/v1/users/{id}/keys/{key.Id}", key);
    }

    private static async Task<Ok<KeyListResponse>> ListAsync(long id, Caller caller, KeyService keys, CancellationToken cancellationToken) =>
        TypedResults.Ok(await keys.ListAsync(caller, id, cancellationToken));

    private static async Task<Ok<KeyResponse>> RevokeAsync(long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, CancellationToken cancellationToken) =>
        TypedResults.Ok(await keys.RevokeAsync(caller, id, keyId, cancellationToken));

    private static async Task<NoContent> DeleteAsync(long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, CancellationToken cancellationToken)
    {
        await keys.DeleteAsync(caller, id, keyId, cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>No authentication: other services call this with the token a client presented to them.</summary>
    private static async Task<Ok<VerifyResponse>> VerifyAsync(
        JsonBody body, KeyVerifier verifier, RequestConnection connection, CancellationToken cancellationToken)
    {
        var token = body.String("token", required: true);
        body.ThrowIfInvalid();

        Verification verification;
        try
        {
            verification = await verifier.VerifyAsync(token, cancellationToken);
        }
        finally
        {
            await connection.ReleaseAsync();
        }

        return TypedResults.Ok(verification.Key is { } key
            ? new VerifyResponse(true, KeyResponse.From(key), UserResponse.From(new Caller(key).User), null)
            : new VerifyResponse(false, null, null, verification.Reason));
    }
}
