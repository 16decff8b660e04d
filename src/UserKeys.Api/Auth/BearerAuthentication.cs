using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Users;

namespace UserKeys.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;token&gt;</c>. Missing, malformed, unknown, revoked or expired: 401 with
/// <c>WWW-Authenticate: Bearer</c> and a problem body that never repeats the token; a client address that
/// used up its failed checks: 429. Endpoints that need no caller (health, the OpenAPI document, the
/// reference, unknown paths) never get here: the header is not even read.
/// </summary>
internal sealed class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    KeyVerifier verifier,
    FailureLimiter failures,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    public const string ScopeClaim = "scope";
    private const int MaxHeaderLength = 1024;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Authorization.WantsCaller(Context.GetEndpoint()))
        {
            return AuthenticateResult.NoResult();
        }

        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return AuthenticateResult.NoResult();
        }

        // A header that is not one "Bearer <token>" is checked as a missing token: malformed, counted against the address.
        var header = headers.Count == 1 ? headers[0] : null;
        var token = header is not null && header.Length <= MaxHeaderLength && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : null;
        var verification = await verifier.VerifyAsync(token, RateLimits.ClientAddress(Context), Context.RequestAborted).ConfigureAwait(false);

        if (!verification.Valid)
        {
            return Fail(verification.Reason!);
        }

        var key = verification.Key!;
        Context.Features.Set(new Caller(key));
        var claims = new List<Claim>(4 + key.Scopes.Length)
        {
            new(ClaimTypes.NameIdentifier, key.UserId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new(ClaimTypes.Role, key.UserRole),
            new("key_id", key.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        claims.AddRange(key.Scopes.Select(scope => new Claim(ScopeClaim, scope)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    private AuthenticateResult Fail(string reason)
    {
        Context.Items[typeof(BearerAuthenticationHandler)] = reason;
        return AuthenticateResult.Fail(reason);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var reason = Context.Items[typeof(BearerAuthenticationHandler)] as string;
        if (reason == Verification.RateLimited)
        {
            await RateLimits.WriteTooManyAsync(Context, FailureLimiter.PolicyName, failures.PerSecond,
                "This address sent too many tokens that were refused.").ConfigureAwait(false);
            return;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = reason is null
            ? "Bearer realm=\"UserKeys\""
            : $"Bearer realm=\"UserKeys\", error=\"invalid_token\", error_description=\"{Describe(reason)}\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = reason is null
                    ? "This endpoint needs 'Authorization: Bearer <api key token>'."
                    : $"The bearer token was refused: {Describe(reason)}.",
            },
        }).ConfigureAwait(false);
    }

    private static string Describe(string reason) => reason switch
    {
        Verification.Malformed => "the token is malformed (wrong format or checksum)",
        Verification.NotFound => "no key has this token",
        Verification.Revoked => "the key was revoked",
        Verification.Expired => "the key has expired",
        _ => "invalid token",
    };
}

/// <summary>
/// Who may call what. Every endpoint needs an authenticated caller unless it says otherwise (the fallback
/// policy); endpoints name their scope (<see cref="RequireScope{TBuilder}"/>) and, where the contract says
/// so, the admin role (<see cref="RequireAdmin{TBuilder}"/>). A request may do what its user's role allows
/// intersected with its key's scopes: a missing scope or role is 403, with the reason.
/// </summary>
internal static class Authorization
{
    public const string AdminPolicy = "admin";
    public const string VerifyPolicy = "verify";
    private const string ScopePolicyPrefix = "scope:";

    public static IServiceCollection AddBearerAuthentication(this IServiceCollection services)
    {
        // No default scheme: authentication runs only where a policy asks for the caller.
        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, BearerAuthenticationHandler>(BearerAuthenticationHandler.SchemeName, null);
        var builder = services.AddAuthorizationBuilder()
            .SetFallbackPolicy(Caller().Build())
            .SetDefaultPolicy(Caller().Build())
            .AddPolicy(AdminPolicy, Caller().AddRequirements(new AdminRequirement()).Build())
            .AddPolicy(VerifyPolicy, new AuthorizationPolicyBuilder(BearerAuthenticationHandler.SchemeName).AddRequirements(new VerifyCallerRequirement()).Build());
        foreach (var scope in Scopes.All)
        {
            builder.AddPolicy(ScopePolicyPrefix + scope, Caller().AddRequirements(new ScopeRequirement(scope)).Build());
        }

        services.AddSingleton<IAuthorizationHandler, RequirementHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ProblemResultHandler>();
        return services;
    }

    /// <summary>The endpoint needs a key holding <paramref name="scope"/>.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(ScopePolicyPrefix + scope).WithMetadata(new ScopeMetadata(scope));

    /// <summary>The endpoint is for admins only (403 for members).</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(AdminPolicy);

    /// <summary>
    /// Whether authentication should read the Authorization header for this endpoint: not for anonymous
    /// endpoints, nor for paths no endpoint serves (404) or methods it does not accept (405, no metadata).
    /// </summary>
    public static bool WantsCaller(Endpoint? endpoint) =>
        endpoint is { Metadata.Count: > 0 } && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null;

    private static AuthorizationPolicyBuilder Caller() =>
        new AuthorizationPolicyBuilder(BearerAuthenticationHandler.SchemeName).RequireAuthenticatedUser();

    private sealed record ScopeRequirement(string Scope) : IAuthorizationRequirement;

    private sealed record AdminRequirement : IAuthorizationRequirement;

    /// <summary><c>verify</c>: anyone without a bearer header; with one, a valid key holding <c>keys:verify</c>.</summary>
    private sealed record VerifyCallerRequirement : IAuthorizationRequirement;

    private sealed class RequirementHandler : IAuthorizationHandler
    {
        public Task HandleAsync(AuthorizationHandlerContext context)
        {
            foreach (var requirement in context.PendingRequirements.ToList())
            {
                switch (requirement)
                {
                    case ScopeRequirement { Scope: var scope }:
                        Decide(context, requirement, context.User.HasClaim(BearerAuthenticationHandler.ScopeClaim, scope),
                            $"This key lacks the scope '{scope}'.");
                        break;
                    case AdminRequirement:
                        Decide(context, requirement, context.User.IsInRole(Roles.Admin), "Only an admin may call this endpoint.");
                        break;
                    case VerifyCallerRequirement:
                        var anonymous = context.Resource is HttpContext http && http.Request.Headers.Authorization.Count == 0;
                        Decide(context, requirement,
                            anonymous || context.User.HasClaim(BearerAuthenticationHandler.ScopeClaim, Scopes.KeysVerify),
                            $"This key lacks the scope '{Scopes.KeysVerify}' (call verify without a bearer key, or with one that holds it).");
                        break;
                }
            }

            return Task.CompletedTask;
        }

        private void Decide(AuthorizationHandlerContext context, IAuthorizationRequirement requirement, bool allowed, string reason)
        {
            if (allowed)
            {
                context.Succeed(requirement);
            }
            else
            {
                context.Fail(new AuthorizationFailureReason(this, reason));
            }
        }
    }

    /// <summary>403 says which scope or role is missing; a path no endpoint serves keeps its 404 or 405.</summary>
    private sealed class ProblemResultHandler(IProblemDetailsService problems) : IAuthorizationMiddlewareResultHandler
    {
        private readonly AuthorizationMiddlewareResultHandler _default = new();

        public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
        {
            if (!WantsCaller(context.GetEndpoint()))
            {
                await next(context).ConfigureAwait(false);
                return;
            }

            if (authorizeResult.Forbidden)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                var reasons = authorizeResult.AuthorizationFailure?.FailureReasons.Select(reason => reason.Message).Distinct().ToList() ?? [];
                await problems.WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = new ProblemDetails
                    {
                        Status = StatusCodes.Status403Forbidden,
                        Title = "Forbidden",
                        Detail = reasons.Count > 0 ? string.Join(" ", reasons) : "This key may not call this endpoint.",
                    },
                }).ConfigureAwait(false);
                return;
            }

            await _default.HandleAsync(next, context, policy, authorizeResult).ConfigureAwait(false);
        }
    }
}

/// <summary>The scope an endpoint requires (for the document and the endpoint-walking test).</summary>
internal sealed record ScopeMetadata(string Scope);
