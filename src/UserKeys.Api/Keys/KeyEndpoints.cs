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
            .AddEndpointFilter<UnitOfWorkFilter>();

        keys.MapPost("/", CreateAsync)
            .RequireScope(Scopes.KeysWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("CreateKey")
            .WithSummary("Issue a key; the response is the only time its token is shown (admin, or the user itself)")
            .WithDescription("""
                `scopes` (default: the calling key's) may hold no scope the calling key lacks (403); `expires_at`
                (default: the calling key's) must lie in the future and no later than the calling key's expiry (400).
                At most `UserKeys__MaxKeysPerUser` keys per user, revoked ones included until deleted (409).
                """)
            .WithJsonBody<CreateKeyRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        keys.MapGet("/", ListAsync)
            .RequireScope(Scopes.KeysRead)
            .WithUnitOfWork(UnitOfWorkMode.ReadOnly)
            .WithMetadata(new QueryParametersMetadata(
                new("limit", "integer", $"Page size, 1 to {KeyService.MaxListLimit} (default {KeyService.DefaultListLimit})", 1, KeyService.MaxListLimit),
                new("after", "string", "The next_cursor of the previous page")))
            .WithName("ListKeys")
            .WithSummary("A user's keys, newest first, a page at a time (admin, or the user itself)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapPost("/{key_id:long}/revoke", RevokeAsync)
            .RequireScope(Scopes.KeysWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("RevokeKey")
            .WithSummary("Revoke a key; revoking again keeps the first revoked_at (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapDelete("/{key_id:long}", DeleteAsync)
            .RequireScope(Scopes.KeysWrite)
            .WithUnitOfWork(UnitOfWorkMode.ReadWrite)
            .WithName("DeleteKey")
            .WithSummary("Delete a key (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapPost("/v1/keys/verify", VerifyAsync)
            .WithTags("Keys")
            .RequireAuthorization(Authorization.VerifyPolicy)
            .WithMetadata(new DatabaseBackedMetadata(), new ScopeMetadata(Scopes.KeysVerify))
            .WithName("VerifyKey")
            .WithSummary("Check a token: valid with its key and user, or why not (no authentication, or a key with keys:verify)")
            .WithDescription("""
                Without a bearer key, refused tokens count against the caller's address
                (`UserKeys__RateLimits__FailuresPerAddressPerSecond`, then 429). With a bearer key that holds
                `keys:verify` (the way for a relying service) the call is limited per that key instead.
                """)
            .WithJsonBody<VerifyRequest>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        return app;
    }

    private static async Task<Created<CreatedKeyResponse>> CreateAsync(
        long id, JsonBody body, Caller caller, KeyService keys, TimeProvider clock, CancellationToken cancellationToken)
    {
        var key = KeyService.ReadKeyFields(body, "name", clock.GetUtcNow().UtcDateTime);
        body.ThrowIfInvalid();

        var created = await keys.CreateAsync(caller, id, key, cancellationToken);
        return TypedResults.Created($"/v1/users/{id}/keys/{created.Id}", created);
    }

    private static async Task<Ok<KeyListResponse>> ListAsync(long id, HttpRequest request, Caller caller, KeyService keys, CancellationToken cancellationToken)
    {
        var query = new QueryStrings(request.Query);
        var limit = query.Limit(query.Single("limit"), KeyService.DefaultListLimit, KeyService.MaxListLimit);
        var after = query.Single("after");
        if (after is { Length: 0 })
        {
            query.Errors["after"] = ["must be a next_cursor returned by the previous page"];
        }

        query.ThrowIfInvalid();
        return TypedResults.Ok(await keys.ListAsync(caller, id, limit, after, cancellationToken));
    }

    private static async Task<Ok<KeyResponse>> RevokeAsync(long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, CancellationToken cancellationToken) =>
        TypedResults.Ok(await keys.RevokeAsync(caller, id, keyId, cancellationToken));

    private static async Task<NoContent> DeleteAsync(long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, CancellationToken cancellationToken)
    {
        await keys.DeleteAsync(caller, id, keyId, cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Other services call this with the token a client presented to them: anonymously (failures then count
    /// against their address) or with a key of theirs that holds keys:verify (limited per that key).
    /// </summary>
    private static async Task<Ok<VerifyResponse>> VerifyAsync(
        HttpContext context, JsonBody body, KeyVerifier verifier, RequestConnection connection, CancellationToken cancellationToken)
    {
        var token = body.String("token", required: true);
        body.ThrowIfInvalid();

        Verification verification;
        try
        {
            var address = context.Features.Get<Caller>() is null ? RateLimits.ClientAddress(context) : null;
            verification = await verifier.VerifyAsync(token, address, cancellationToken);
        }
        finally
        {
            await connection.ReleaseAsync();
        }

        if (verification == Verification.TooMany)
        {
            throw new TooManyFailuresError();
        }

        return TypedResults.Ok(verification.Key is { } key
            ? new VerifyResponse(true, KeyResponse.From(key), UserResponse.From(new Caller(key).User), null)
            : new VerifyResponse(false, null, null, verification.Reason));
    }
}
