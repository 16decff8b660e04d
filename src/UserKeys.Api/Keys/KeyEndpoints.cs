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
            .WithDatabase();

        // Singletons bound once here, not resolved per request: a verify of a cached key creates no service scope.
        var database = app.ServiceProvider.GetRequiredService<UnitOfWorkRunner>();
        var service = app.ServiceProvider.GetRequiredService<KeyService>();
        var verifier = app.ServiceProvider.GetRequiredService<KeyVerifier>();

        keys.MapPost("/", (long id, CreateKeyRequest body, Caller caller, CancellationToken cancellationToken) =>
                CreateAsync(id, body, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysWrite)
            .WithName("CreateKey")
            .WithSummary("Issue a key; the response is the only time its token is shown (admin, or the user itself)")
            .WithDescription("""
                `scopes` (default: the calling key's) may hold no scope the calling key lacks (403); `expires_at`
                (default: the calling key's) must lie in the future and no later than the calling key's expiry (400).
                At most `UserKeys__MaxKeysPerUser` keys per user, revoked ones included until deleted (409).
                """)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        keys.MapGet("/", (long id, KeyListQuery query, Caller caller, CancellationToken cancellationToken) =>
                ListAsync(id, query, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysRead)
            .WithName("ListKeys")
            .WithSummary("A user's keys, newest first, a page at a time (admin, or the user itself)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapPost("/{key_id:long}/revoke", (long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, CancellationToken cancellationToken) =>
                RevokeAsync(id, keyId, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysWrite)
            .WithName("RevokeKey")
            .WithSummary("Revoke a key; revoking again keeps the first revoked_at (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapDelete("/{key_id:long}", (long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, CancellationToken cancellationToken) =>
                DeleteAsync(id, keyId, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysWrite)
            .WithName("DeleteKey")
            .WithSummary("Delete a key (admin, or the user itself)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        app.MapPost("/v1/keys/verify", (HttpContext context, VerifyRequest body, CancellationToken cancellationToken) =>
                VerifyAsync(context, body, verifier, cancellationToken))
            .WithTags("Keys")
            .AllowAnonymousOrCaller()
            .RequireScope(Scopes.KeysVerify)
            .WithDatabase()
            .WithName("VerifyKey")
            .WithSummary("Check a token: valid with its key and user, or why not (no authentication, or a key with keys:verify)")
            .WithDescription("""
                Without a bearer key, refused tokens count against the caller's address
                (`UserKeys__RateLimits__FailuresPerAddressPerSecond`, then 429). With a bearer key that holds
                `keys:verify` (the way for a relying service) the call is limited per that key instead.
                """)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        return app;
    }

    private static async Task<JsonCreated<CreatedKeyResponse>> CreateAsync(
        long id, CreateKeyRequest body, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        var key = new KeyRequest(body.Name, body.ExpiresAt?.UtcDateTime, body.Scopes);
        var created = await database.RunAsync(UnitOfWorkMode.ReadWrite, unit => keys.CreateAsync(unit, caller, id, key, cancellationToken), cancellationToken);
        return JsonResults.Created($"/v1/users/{id}/keys/{created.Id}", created);
    }

    /// <summary>One snapshot: the user's existence and its page agree.</summary>
    private static async Task<JsonOk<KeyListResponse>> ListAsync(
        long id, KeyListQuery query, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        JsonResults.Ok(await database.RunAsync(UnitOfWorkMode.ReadOnly, unit => keys.ListAsync(unit, caller, id, query, cancellationToken), cancellationToken));

    private static async Task<JsonOk<KeyResponse>> RevokeAsync(
        long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        JsonResults.Ok(await database.RunAsync(UnitOfWorkMode.ReadWrite, unit => keys.RevokeAsync(unit, caller, id, keyId, cancellationToken), cancellationToken));

    private static async Task<NoContent> DeleteAsync(
        long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        await database.RunAsync(UnitOfWorkMode.ReadWrite, async unit =>
        {
            await keys.DeleteAsync(unit, caller, id, keyId, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Other services call this with the token a client presented to them: anonymously (failures then count
    /// against their address) or with a key of theirs that holds keys:verify (limited per that key).
    /// </summary>
    private static async Task<JsonOk<VerifyResponse>> VerifyAsync(HttpContext context, VerifyRequest body, KeyVerifier verifier, CancellationToken cancellationToken)
    {
        var address = context.Features.Get<Caller>() is null ? RateLimits.ClientAddress(context) : null;
        var verification = await verifier.VerifyAsync(body.Token, address, cancellationToken);
        if (verification == Verification.TooMany)
        {
            throw new TooManyFailuresError();
        }

        // The answer for one version of a cached key is rendered once (a recorded use makes a new version);
        // the refusals' answers are rendered once for all.
        return new JsonOk<VerifyResponse>(verification.Entry is { } entry
            ? entry.Rendered(static key => JsonResults.Render(Valid(key)))
            : Refusals.GetValueOrDefault(verification.Reason!) ?? JsonResults.Render(new VerifyResponse(false, null, null, verification.Reason)));
    }

    private static VerifyResponse Valid(Data.Keys.ApiKeyWithUserRow key) =>
        new(true, KeyResponse.From(key), UserResponse.From(new Caller(key).User), null);

    /// <summary>The refusals' answers, rendered once.</summary>
    private static readonly Dictionary<string, byte[]> Refusals = new[] { Verification.Malformed, Verification.NotFound, Verification.Revoked, Verification.Expired }
        .ToDictionary(reason => reason, reason => JsonResults.Render(new VerifyResponse(false, null, null, reason)), StringComparer.Ordinal);
}
