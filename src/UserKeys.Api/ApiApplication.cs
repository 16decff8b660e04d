using Microsoft.AspNetCore.Server.Kestrel.Core;
using Scalar.AspNetCore;
using UserKeys.Api.Audit;
using UserKeys.Api.Auth;
using UserKeys.Api.Health;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Keys;
using UserKeys.Api.OpenApi;
using UserKeys.Api.Provisioning;
using UserKeys.Api.Users;

namespace UserKeys.Api;

/// <summary>The HTTP service: its services and its request pipeline.</summary>
internal static class ApiApplication
{
    public static WebApplicationBuilder AddUserKeysApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ServiceOptions>()
            .Bind(builder.Configuration.GetSection(ServiceOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<HostOptions>().Configure<Microsoft.Extensions.Options.IOptions<ServiceOptions>>((host, service) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(service.Value.ShutdownTimeoutSeconds));
        services.Configure<KestrelServerOptions>(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = RequestBody.MaxBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.AddServerHeader = false;
        });

        services.AddUserKeysData();
        services.AddHostedService<SchemaCheck>();
        services.AddSingleton<Health.Readiness>();
        services.AddSingleton<UnitOfWorkRunner>();
        services.AddSingleton<IKeyStore, DatabaseKeyStore>();
        services.AddSingleton<KeyVerifier>();
        services.AddSingleton<LastUseRecorder>();
        services.AddHostedService(provider => provider.GetRequiredService<LastUseRecorder>());
        services.AddSingleton<UserService>();
        services.AddSingleton<KeyService>();
        services.AddSingleton<CursorSigner>();
        services.AddSingleton<UserCursor>();
        services.AddSingleton<KeyCursor>();
        services.AddSingleton<AuditCursor>();
        services.AddSingleton<AuthCache>();
        services.AddHostedService<AuthCacheListener>();
        services.AddSingleton<Usage.CreditLeases>();
        services.AddHostedService(provider => provider.GetRequiredService<Usage.CreditLeases>());
        services.AddSingleton<Usage.UsageCounter>();
        services.AddHostedService(provider => provider.GetRequiredService<Usage.UsageCounter>());
        services.AddSingleton<Usage.RateLimitLeases>();
        services.AddSingleton<Usage.UsageControl>();
        services.AddHostedService(provider => provider.GetRequiredService<Usage.RateLimitLeases>());
        services.AddSingleton<AuditRetention>();
        services.AddHostedService(provider => provider.GetRequiredService<AuditRetention>());

        services.AddAccess();
        services.AddUserKeysRateLimits();
        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Detail ??= ProblemMapping.DefaultDetail(context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode);
            // The id the audit trail records for the request (its trace_id may be the caller's).
            context.ProblemDetails.Extensions["request_id"] = RequestIds.Of(context.HttpContext);
        });
        AnyAcceptProblemWriter.Wrap(services);
        services.AddExceptionHandler<ProblemMapping>();
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
            json.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            json.SerializerOptions.Converters.Add(new UtcTimestampConverter());
        });
        services.AddUserKeysOpenApi();
        services.AddUserKeysTelemetry(builder.Configuration, builder.Configuration.GetSection(ServiceOptions.Section).Get<ServiceOptions>() ?? new ServiceOptions());
        return builder;
    }

    public static WebApplication UseUserKeysApi(this WebApplication app)
    {
        app.UseMiddleware<RequestLogging>();
        if (app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ServiceOptions>>().Value.TrustedProxyList().Count > 0)
        {
            app.UseForwardedHeaders();
        }

        app.UseExceptionHandler();
        app.UseMiddleware<BareErrorProblems>();
        app.UseRouting();
        app.UseMiddleware<AccessMiddleware>();

        app.MapHealth();
        app.MapUsers();
        app.MapKeys();
        app.MapProvisioning();
        app.MapAudit();
        app.MapOpenApi().AllowAnonymous();
        // The interactive reference serves its own bundled script: no CDN.
        app.MapScalarApiReference("/reference", options => options.WithTitle("UserKeys API")).AllowAnonymous();
        return app;
    }
}
