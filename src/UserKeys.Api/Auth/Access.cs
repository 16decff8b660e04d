using System.Collections.Concurrent;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Users;

namespace UserKeys.Api.Auth;

/// <summary>
/// Who may call what, decided in one middleware after routing. Every endpoint needs a caller (a valid
/// key in <c>Authorization: Bearer &lt;token&gt;</c>) unless it is anonymous (<c>.AllowAnonymous()</c>);
/// endpoints name their scope (<see cref="RequireScope{TBuilder}"/>) and, where the contract says so,
/// the admin role (<see cref="RequireAdmin{TBuilder}"/>). A request may do what its user's role allows
/// intersected with its key's scopes.
/// <list type="bullet">
/// <item>Missing, malformed, unknown, revoked or expired token: 401 with <c>WWW-Authenticate: Bearer</c> and a
/// problem body that never repeats the token. A client address that used up its failed checks: 429.</item>
/// <item>A missing scope or role: 403 naming it. More calls with one key than <c>UserKeys__RateLimits__PerKeyPerSecond</c>: 429.</item>
/// <item>Anonymous endpoints (health, the OpenAPI document, the reference) and paths no endpoint serves
/// (404, 405) never get here: the Authorization header is not even read.</item>
/// </list>
/// One middleware instead of ASP.NET Core's authentication, authorization and rate-limiting middleware:
/// those resolved a handler, built a claims principal and evaluated policies on every request, and their
/// locks (partition lookup, policy cache, AppContext switches) were contended under load.
/// </summary>
internal sealed class AccessMiddleware(
    RequestDelegate next, KeyVerifier verifier, FailureLimiter failures, KeyRateLimiter perKey, Usage.UsageCounter usage, IProblemDetailsService problems)
{
    private const int MaxHeaderLength = 1024;

    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (Access.RuleFor(endpoint) is not { } rule)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var headers = context.Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            if (rule.CallerOptional)
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            await WriteUnauthorizedAsync(context, null).ConfigureAwait(false);
            return;
        }

        // A header that is not one "Bearer <token>" is checked as a missing token: malformed, counted against the address.
        var header = headers.Count == 1 ? headers[0] : null;
        var token = header is not null && header.Length <= MaxHeaderLength && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : null;
        var verification = await verifier.VerifyAsync(token, RateLimits.ClientAddress(context), rule.StaleRead, context.RequestAborted).ConfigureAwait(false);
        if (verification == Verification.TooMany)
        {
            await RateLimits.WriteTooManyAsync(context, FailureLimiter.PolicyName, failures.PerSecond,
                "This address sent too many tokens that were refused.").ConfigureAwait(false);
            return;
        }

        if (verification.Key is not { } key)
        {
            await WriteUnauthorizedAsync(context, verification.Reason).ConfigureAwait(false);
            return;
        }

        usage.Count(key.Id, Usage.UsageOutcome.Valid);
        var caller = new Caller(key, context);
        if (rule.Refusal(caller) is { } reason)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await WriteProblemAsync(context, StatusCodes.Status403Forbidden, "Forbidden", reason).ConfigureAwait(false);
            return;
        }

        if (!perKey.TryAcquire(key.Id))
        {
            await RateLimits.WriteTooManyAsync(context, RateLimits.PerKeyPolicyName, perKey.PerSecond,
                "This key made more calls than it may per second.").ConfigureAwait(false);
            return;
        }

        context.Features.Set(caller);
        await next(context).ConfigureAwait(false);
    }

    private Task WriteUnauthorizedAsync(HttpContext context, string? reason)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = reason is null
            ? "Bearer realm=\"UserKeys\""
            : $"Bearer realm=\"UserKeys\", error=\"invalid_token\", error_description=\"{Describe(reason)}\"";
        return WriteProblemAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", reason is null
            ? "This endpoint needs 'Authorization: Bearer <api key token>'."
            : $"The bearer token was refused: {Describe(reason)}.");
    }

    private async Task WriteProblemAsync(HttpContext context, int status, string title, string detail) =>
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        }).ConfigureAwait(false);

    private static string Describe(string reason) => reason switch
    {
        Verification.Malformed => "the token is malformed (wrong format or checksum)",
        Verification.NotFound => "no key has this token",
        Verification.Revoked => "the key was revoked",
        Verification.Expired => "the key has expired",
        Verification.Disabled => "the key is disabled",
        _ => "invalid token",
    };
}

/// <summary>What an endpoint asks of its caller, read from its metadata once per endpoint.</summary>
/// <param name="StaleRead">
/// The endpoint only reads, and its answer may be as old as a standby's (<see cref="Access.ReadsStale{TBuilder}"/>): its
/// caller may be authenticated from the auth cache while its listener is reconnecting, within the same 3 s bound.
/// </param>
internal sealed record AccessRule(bool CallerOptional, bool Admin, string[] Scopes, bool StaleRead = false)
{
    /// <summary>Why <paramref name="caller"/> may not call the endpoint (every reason), or null.</summary>
    public string? Refusal(Caller caller)
    {
        List<string>? reasons = null;
        if (Admin && !caller.IsAdmin)
        {
            (reasons ??= []).Add("Only an admin may call this endpoint.");
        }

        foreach (var scope in Scopes)
        {
            if (!caller.Key.Scopes.Contains(scope, StringComparer.Ordinal))
            {
                (reasons ??= []).Add(CallerOptional
                    ? $"This key lacks the scope '{scope}' (call verify without a bearer key, or with one that holds it)."
                    : $"This key lacks the scope '{scope}'.");
            }
        }

        return reasons is null ? null : string.Join(" ", reasons);
    }
}

internal static class Access
{
    private static readonly ConcurrentDictionary<Endpoint, AccessRule?> Rules = new();

    /// <summary>
    /// The endpoint's rule; null when it needs no caller: anonymous endpoints, and paths no endpoint serves
    /// or methods it does not accept (404 and 405 endpoints have no metadata).
    /// </summary>
    public static AccessRule? RuleFor(Endpoint? endpoint) =>
        endpoint is null ? null : Rules.GetOrAdd(endpoint, static endpoint =>
            endpoint.Metadata.Count == 0 || endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null
                ? null
                : new AccessRule(
                    endpoint.Metadata.GetMetadata<OptionalCallerMetadata>() is not null,
                    endpoint.Metadata.GetMetadata<AdminMetadata>() is not null,
                    [.. endpoint.Metadata.GetOrderedMetadata<ScopeMetadata>().Select(scope => scope.Scope).Distinct()],
                    endpoint.Metadata.GetMetadata<StaleReadMetadata>() is not null));

    /// <summary>The endpoint needs a key holding <paramref name="scope"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopeMetadata(scope));

    /// <summary>The endpoint is for admins only (403 for members).</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AdminMetadata.Instance);

    /// <summary>
    /// Anyone without an Authorization header may call the endpoint; with one, it must be a valid key that
    /// meets the endpoint's other rules (<c>verify</c>: relying services call it anonymously or with their key).
    /// </summary>
    public static TBuilder AllowAnonymousOrCaller<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(OptionalCallerMetadata.Instance);

    /// <summary>
    /// The endpoint only reads, and may answer from a standby (<c>UserKeys__ReadFromStandbys</c>): through a failover its
    /// callers are still authenticated from the auth cache while its listener reconnects (see <see cref="AuthCache.Disconnected"/>).
    /// </summary>
    public static TBuilder ReadsStale<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(StaleReadMetadata.Instance);

    public static IServiceCollection AddAccess(this IServiceCollection services) =>
        services.AddSingleton<KeyRateLimiter>();
}

/// <summary>The scope an endpoint requires.</summary>
internal sealed record ScopeMetadata(string Scope);

/// <summary>The endpoint is for admins.</summary>
internal sealed record AdminMetadata
{
    public static readonly AdminMetadata Instance = new();
}

/// <summary>The endpoint only reads, and its answer may be stale (see <see cref="Access.ReadsStale{TBuilder}"/>).</summary>
internal sealed record StaleReadMetadata
{
    public static readonly StaleReadMetadata Instance = new();
}

/// <summary>The endpoint serves callers without a key too (see <see cref="Access.AllowAnonymousOrCaller{TBuilder}"/>).</summary>
internal sealed record OptionalCallerMetadata
{
    public static readonly OptionalCallerMetadata Instance = new();
}

/// <summary>
/// Calls per key and second: a token bucket of <see cref="PerSecond"/> a second with a burst of twice
/// that, kept as one "theoretical arrival time" per key (GCRA, the same limit as a token bucket) and
/// updated with compare-and-swap, so that many requests with one key never wait on a lock. Keys idle
/// for a while are forgotten (a full bucket needs no state).
/// </summary>
internal sealed class KeyRateLimiter
{
    private const int SweepAbove = 100_000;
    private readonly ConcurrentDictionary<long, Cell> _cells = new();
    private readonly TimeProvider _clock;
    private readonly long _interval;
    private readonly long _tolerance;
    private long _lastSweep;

    public KeyRateLimiter(IOptions<ServiceOptions> options, TimeProvider clock)
    {
        _clock = clock;
        PerSecond = options.Value.RateLimits.PerKeyPerSecond;
        if (PerSecond > 0)
        {
            _interval = Math.Max(1, _clock.TimestampFrequency / PerSecond);
            // A burst of 2 x PerSecond calls from a full bucket: the first is free, each next one uses one interval.
            _tolerance = _interval * ((2L * PerSecond) - 1);
        }
    }

    public int PerSecond { get; }

    public bool TryAcquire(long keyId)
    {
        if (PerSecond <= 0)
        {
            return true;
        }

        var now = _clock.GetTimestamp();
        var cell = _cells.GetOrAdd(keyId, static _ => new Cell());
        while (true)
        {
            var arrival = Volatile.Read(ref cell.Arrival);
            var start = Math.Max(arrival, now);
            if (start - now > _tolerance)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref cell.Arrival, start + _interval, arrival) == arrival)
            {
                if (_cells.Count > SweepAbove && now - Interlocked.Read(ref _lastSweep) > _clock.TimestampFrequency
                    && Interlocked.Exchange(ref _lastSweep, now) != now)
                {
                    // At most one sweep a second, by one caller.
                    Sweep(now);
                }

                return true;
            }
        }
    }

    private void Sweep(long now)
    {
        foreach (var (keyId, cell) in _cells)
        {
            if (Volatile.Read(ref cell.Arrival) <= now)
            {
                _cells.TryRemove(new KeyValuePair<long, Cell>(keyId, cell));
            }
        }
    }

    private sealed class Cell
    {
        public long Arrival;
    }
}
