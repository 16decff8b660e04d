using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using UserKeys.Data.Users;

namespace UserKeys.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;token&gt;</c>. Missing, malformed, unknown, revoked or expired: 401 with
/// <c>WWW-Authenticate: Bearer</c> and a problem body that never repeats the token.
/// </summary>
internal sealed class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    KeyVerifier verifier,
    UserKeys.Api.Infrastructure.RequestConnection requestConnection,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    public const string AdminPolicy = "admin";
    private const int MaxHeaderLength = 1024;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return AuthenticateResult.NoResult();
        }

        var header = headers.Count == 1 ? headers[0] : null;
        if (header is null || header.Length > MaxHeaderLength
            || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(Verification.Malformed);
        }

        Verification verification;
        try
        {
            verification = await verifier.VerifyAsync(header["Bearer ".Length..].Trim(), Context.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            // The body is read next, at the client's pace: hold no connection meanwhile.
            await requestConnection.ReleaseAsync().ConfigureAwait(false);
        }

        if (!verification.Valid)
        {
            return Fail(verification.Reason!);
        }

        var key = verification.Key!;
        var caller = new Caller(key);
        Context.Features.Set(caller);
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, key.UserId.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Claim(ClaimTypes.Role, key.UserRole),
                new Claim("key_id", key.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ],
            SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    private AuthenticateResult Fail(string reason)
    {
        Context.Items[typeof(BearerAuthenticationHandler)] = reason;
        return AuthenticateResult.Fail(reason);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var reason = Context.Items[typeof(BearerAuthenticationHandler)] as string;
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

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status403Forbidden,
                Title = "Forbidden",
                Detail = "Only an admin may call this endpoint.",
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

internal static class BearerAuthenticationSetup
{
    public static IServiceCollection AddBearerAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication(BearerAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, BearerAuthenticationHandler>(BearerAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(BearerAuthenticationHandler.AdminPolicy, policy => policy.RequireAuthenticatedUser().RequireRole(Roles.Admin));
        return services;
    }
}
