using System.Buffers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;

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
        var verifyServices = new VerifyServices(
            app.ServiceProvider.GetRequiredService<Usage.UsageControl>(),
            app.ServiceProvider.GetRequiredService<Usage.UsageCounter>(), app.ServiceProvider.GetRequiredService<ServiceMetrics>());

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
            .ReadsStale()
            .RequireScope(Scopes.KeysRead)
            .WithName("ListKeys")
            .WithSummary("A user's keys, newest first, a page at a time (admin, or the user itself)")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound);

        keys.MapPatch("/{key_id:long}", (long id, [FromRoute(Name = "key_id")] long keyId, UpdateKeyRequest body, Caller caller, CancellationToken cancellationToken) =>
                UpdateAsync(id, keyId, body, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysWrite)
            .WithName("UpdateKey")
            .WithSummary("Change a key's name, enabled, scopes (narrow only), permissions, meta or expiry (admin, or the user itself)")
            .WithDescription("""
                Absent fields stay; `"name": null` and `"meta": null` clear them. `enabled: false` refuses the key
                (401, verify reason `disabled`) on every instance within a second, until it is enabled again.
                `scopes` may only narrow the key's (403). `expires_at` must lie in the future and no later than the
                calling key's expiry; null (never) only when the calling key never expires (400).
                """)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

        keys.MapPost("/{key_id:long}/roll", (long id, [FromRoute(Name = "key_id")] long keyId, RollKeyRequest body, Caller caller, CancellationToken cancellationToken) =>
                RollAsync(id, keyId, body, caller, service, database, cancellationToken))
            .RequireScope(Scopes.KeysWrite)
            .WithName("RollKey")
            .WithSummary("Replace a key by a new one; the old one keeps working for grace_seconds (admin, or the user itself)")
            .WithDescription("""
                One transaction: the new key (201, its token shown once) has the old one's name, scopes, permissions,
                meta, enabled state and expiry (no later than the calling key's), and `rolled_from_id`; it works at
                once. The old key's `expires_at` becomes now + `grace_seconds` (0..604800, default 0), never later
                than it was: then every instance refuses it as `expired`. A revoked, expired or already rolled key
                is 409; so is a user at `UserKeys__MaxKeysPerUser` keys.
                """)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        keys.MapGet("/{key_id:long}/usage", (long id, [FromRoute(Name = "key_id")] long keyId, Usage.UsageQuery query, Caller caller, CancellationToken cancellationToken) =>
                UsageAsync(id, keyId, query, caller, database, cancellationToken))
            .ReadsStale()
            .RequireScope(Scopes.KeysRead)
            .WithName("GetKeyUsage")
            .WithSummary("A key's verifications and authentications per hour or day, by outcome (admin, or the user itself)")
            .WithDescription("""
                Every bucket of the range is listed, zeros included (UTC hours, or UTC days with `granularity=day`). Counts
                are kept in memory by each instance and written every 5 seconds: they may lag by up to that (a crash loses
                at most that), never by a database write per verification. At most 31 days of hours or 400 days of days
                (400 beyond); kept `UserKeys__UsageRetentionDays` (default 90).
                """)
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
                VerifyAsync(context, body, verifier, verifyServices, cancellationToken))
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
        var key = new KeyRequest(body.Name, body.ExpiresAt?.UtcDateTime, body.Scopes, body.Enabled ?? true, body.Permissions, Meta(body.Meta.Value))
        {
            Remaining = body.Remaining.Value, Refill = body.Refill.Value, RateLimits = Rules(body.RateLimits.Value),
            SetsUsageControl = body.SetsUsageControl, SetsMeta = body.Meta.IsSet,
        };
        var created = await database.WriteAsync(caller.Actor, unit => keys.CreateAsync(unit, caller, id, key, cancellationToken), cancellationToken);
        return JsonResults.Created($"/v1/users/{id}/keys/{created.Id}", created);
    }

    private static async Task<JsonOk<KeyResponse>> UpdateAsync(
        long id, long keyId, UpdateKeyRequest body, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        var update = new ApiKeyUpdate(
            id, keyId, Holder: caller.IsHolder(),
            SetName: body.Name.IsSet, Name: body.Name.Value,
            Enabled: body.Enabled.IsSet ? body.Enabled.Value : null,
            Scopes: body.Scopes.IsSet ? [.. body.Scopes.Value!] : null,
            Permissions: body.Permissions.IsSet ? PermissionListAttribute.Normalize(body.Permissions.Value!) : null,
            SetMeta: body.Meta.IsSet, Meta: Meta(body.Meta.Value),
            SetExpiresAt: body.ExpiresAt.IsSet, ExpiresAt: body.ExpiresAt.Value?.UtcDateTime,
            SetRemaining: body.Remaining.IsSet, Remaining: body.Remaining.Value,
            SetRefill: body.Refill.IsSet, RefillInterval: body.Refill.Value?.Interval, RefillAmount: body.Refill.Value?.Amount,
            RateLimits: body.RateLimits.IsSet ? Rules(body.RateLimits.Value) : null);
        return JsonResults.Ok(await database.WriteAsync(caller.Actor, unit => keys.UpdateAsync(unit, caller, update, cancellationToken), cancellationToken));
    }

    private static async Task<JsonCreated<CreatedKeyResponse>> RollAsync(
        long id, long keyId, RollKeyRequest body, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        var created = await database.WriteAsync(
            caller.Actor, unit => keys.RollAsync(unit, caller, id, keyId, body.GraceSeconds ?? 0, cancellationToken), cancellationToken);
        return JsonResults.Created($"/v1/users/{id}/keys/{created.Id}", created);
    }

    private static RateLimitRules Rules(IReadOnlyList<RateLimitRule>? rules) => rules is { Count: > 0 } ? new RateLimitRules(rules) : RateLimitRules.None;

    /// <summary>A meta object as the database stores it (compact JSON text); JSON null is no meta.</summary>
    private static string? Meta(System.Text.Json.JsonElement? meta) =>
        meta is { ValueKind: System.Text.Json.JsonValueKind.Object } value ? MetaObjectAttribute.Serialize(value) : null;

    /// <summary>One snapshot: the user's existence and its page agree.</summary>
    private static async Task<JsonOk<KeyListResponse>> ListAsync(
        long id, KeyListQuery query, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        JsonResults.Ok(await database.ReadStaleAsync(UnitOfWorkMode.ReadOnly, unit => keys.ListAsync(unit, caller, id, query, cancellationToken), cancellationToken));

    private static async Task<JsonOk<KeyResponse>> RevokeAsync(
        long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken) =>
        JsonResults.Ok(await database.WriteAsync(caller.Actor, unit => keys.RevokeAsync(unit, caller, id, keyId, cancellationToken), cancellationToken));

    private static async Task<NoContent> DeleteAsync(
        long id, [FromRoute(Name = "key_id")] long keyId, Caller caller, KeyService keys, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        await database.WriteAsync(caller.Actor, async unit =>
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
    private static async Task<JsonOk<VerifyResponse>> VerifyAsync(
        HttpContext context, VerifyRequest body, KeyVerifier verifier, VerifyServices services, CancellationToken cancellationToken)
    {
        var (answer, reason) = await AnswerAsync(context, body, verifier, services, cancellationToken);
        services.Metrics.Verified(reason);
        return answer;
    }

    /// <summary>The verify answer, and its reason for the metrics (<c>valid</c> or the refusal's).</summary>
    private static async Task<(JsonOk<VerifyResponse> Answer, string Reason)> AnswerAsync(
        HttpContext context, VerifyRequest body, KeyVerifier verifier, VerifyServices services, CancellationToken cancellationToken)
    {
        var (control, usage, _) = services;
        // Refused tokens count against the client's address, or, for a relying service calling with its key, against that key.
        var address = context.Features.Get<Caller>() is { } caller ? FailurePartition(caller) : RateLimits.ClientAddress(context);
        var verification = await verifier.VerifyAsync(body.Token, address, cancellationToken);
        if (verification == Verification.TooMany)
        {
            throw new TooManyFailuresError();
        }

        // The answer for one version of an unlimited cached key is rendered once (a recorded use makes a new
        // version); the refusals' answers are rendered once for all.
        if (verification.Entry is { } entry)
        {
            var key = entry.Row;
            if (!HoldsAll(key.Permissions, body.Permissions))
            {
                usage.Count(key.Id, Usage.UsageOutcome.InsufficientPermissions);
                return (new JsonOk<VerifyResponse>(Refusals[Verification.InsufficientPermissions]), Verification.InsufficientPermissions);
            }

            if (!key.IsLimited)
            {
                usage.Count(key.Id, Usage.UsageOutcome.Valid);
                return (new JsonOk<VerifyResponse>(entry.Rendered(static key => JsonResults.Render(Valid(key, null, [])))), ValidOutcome);
            }

            // The key's budget and its user's, each taken from what this instance leased; a refusal takes nothing.
            var decision = await control.TakeAsync(key, body.Cost ?? 1, cancellationToken);
            switch (decision.Refusal)
            {
                case Verification.RateLimited:
                    usage.Count(key.Id, Usage.UsageOutcome.RateLimited);
                    return (new JsonOk<VerifyResponse>(new VerifyResponse(false, null, null, null, null, Verification.RateLimited)
                    {
                        RateLimit = decision.RefusedBy, ResetAt = decision.ResetAt,
                    }), Verification.RateLimited);
                case Verification.UsageExceeded:
                    usage.Count(key.Id, Usage.UsageOutcome.UsageExceeded);
                    return (new JsonOk<VerifyResponse>(Refusals[Verification.UsageExceeded]), Verification.UsageExceeded);
            }

            usage.Count(key.Id, Usage.UsageOutcome.Valid);
            return (ValidWithLimits(entry, decision), ValidOutcome);
        }

        return (new JsonOk<VerifyResponse>(Refusals.GetValueOrDefault(verification.Reason!)
            ?? JsonResults.Render(Refusal(verification.Reason!))), verification.Reason!);
    }

    private static string FailurePartition(Caller caller) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"key:{caller.Key.Id}");

    /// <summary>One statement: the key's existence (404) and its buckets agree.</summary>
    private static async Task<JsonOk<Usage.UsageResponse>> UsageAsync(
        long id, long keyId, Usage.UsageQuery query, Caller caller, UnitOfWorkRunner database, CancellationToken cancellationToken)
    {
        UserService.EnsureCanActOn(caller, id);
        var buckets = await database.ReadStaleAsync(UnitOfWorkMode.SingleStatement,
            unit => unit.Usage.BucketsAsync(id, keyId, query.Daily, query.From, query.To, cancellationToken), cancellationToken);
        if (buckets.Count == 0)
        {
            throw new NotFoundError("key", keyId);
        }

        return JsonResults.Ok(new Usage.UsageResponse(buckets.Select(bucket => new Usage.UsageBucketResponse(
            bucket.Start, bucket.Valid, bucket.Revoked, bucket.Expired, bucket.Disabled, bucket.InsufficientPermissions, bucket.RateLimited,
            bucket.UsageExceeded)).ToList()));
    }

    /// <summary>What verify uses beyond the verifier: the usage control of limited keys, and the usage counts.</summary>
    private sealed record VerifyServices(Usage.UsageControl Control, Usage.UsageCounter Usage, ServiceMetrics Metrics);

    private const string ValidOutcome = "valid";

    /// <summary>Whether the key holds every permission asked for (none asked: yes).</summary>
    private static bool HoldsAll(string[] held, IReadOnlyList<string>? asked)
    {
        if (asked is null)
        {
            return true;
        }

        foreach (var permission in asked)
        {
            if (Array.IndexOf(held, permission) < 0)
            {
                return false;
            }
        }

        return true;
    }

    private static VerifyResponse Valid(ApiKeyWithUserRow key, long? remaining, IReadOnlyList<RateLimitState> rateLimits) =>
        new(true, KeyResponse.From(key), UserResponse.From(new Caller(key).User), new Units(remaining), rateLimits, null);

    /// <summary>How the answer rendered once per cache entry (<see cref="Valid"/> with no limits) ends: what a limited answer replaces.</summary>
    private static readonly byte[] UnlimitedTail = "\"remaining\":null,\"rate_limits\":[]}"u8.ToArray();

    /// <summary>
    /// A limited key's valid answer: the key and user as rendered once per cache entry, then what this verification left.
    /// Serialising the key and the user on every verification cost as much as all the usage control around it.
    /// </summary>
    private static JsonOk<VerifyResponse> ValidWithLimits(CachedKey entry, Usage.UsageDecision decision)
    {
        var rendered = entry.Rendered(static key => JsonResults.Render(Valid(key, null, [])));
        if (!rendered.AsSpan().EndsWith(UnlimitedTail))
        {
            return new JsonOk<VerifyResponse>(Valid(entry.Current, decision.Remaining, decision.RateLimits));
        }

        return new JsonOk<VerifyResponse>(rendered, rendered.Length - UnlimitedTail.Length, (buffer, writer) =>
        {
            buffer.Write("\"remaining\":"u8);
            JsonResults.Serialize(writer, new Units(decision.Remaining));
            buffer.Write(",\"rate_limits\":"u8);
            writer.Reset(buffer);
            JsonResults.Serialize(writer, decision.RateLimits);
            buffer.Write("}"u8);
        });
    }

    private static VerifyResponse Refusal(string reason) => new(false, null, null, null, null, reason);

    /// <summary>The refusals' answers, rendered once.</summary>
    private static readonly Dictionary<string, byte[]> Refusals = new[]
        {
            Verification.Malformed, Verification.NotFound, Verification.Revoked, Verification.Expired, Verification.Disabled,
            Verification.InsufficientPermissions, Verification.UsageExceeded,
        }
        .ToDictionary(reason => reason, reason => JsonResults.Render(Refusal(reason)), StringComparer.Ordinal);
}
