using System.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// The service's own instruments, on the meter <see cref="MeterName"/> (names follow OpenTelemetry's conventions; a
/// Prometheus scrape shows them with underscores and <c>_total</c>):
/// <list type="bullet">
/// <item><c>userkeys.verify.outcomes</c>: verify answers by <c>reason</c> (<c>valid</c>, or the refusal's reason);</item>
/// <item><c>userkeys.auth_cache.hits</c>, <c>.misses</c> and <c>.evictions</c> (by <c>reason</c>: changed, capacity, expired),
/// the gauges <c>userkeys.auth_cache.entries</c> and <c>userkeys.auth_cache.serving</c> (1 while the listener hears its
/// heartbeat), and <c>userkeys.listener.connected</c>;</item>
/// <item><c>userkeys.rate_limit.rejections</c>: 429 answers by <c>policy</c>.</item>
/// </list>
/// Requests by route (<c>http.server.request.duration</c>) come from ASP.NET Core, the connection pool
/// (<c>db.client.connection.*</c>) from Npgsql.
/// </summary>
internal sealed class ServiceMetrics
{
    public const string MeterName = "UserKeys";

    private readonly Counter<long> _verifyOutcomes;
    private readonly Counter<long> _rateLimitRejections;

    public ServiceMetrics(IMeterFactory meters)
        : this(meters, null)
    {
    }

    /// <summary>With <paramref name="meterTags"/> on the meter: tells several hosts in one process apart (the tests).</summary>
    public ServiceMetrics(IMeterFactory meters, IEnumerable<KeyValuePair<string, object?>>? meterTags)
    {
        Meter = meters.Create(new MeterOptions(MeterName) { Tags = meterTags });
        _verifyOutcomes = Meter.CreateCounter<long>("userkeys.verify.outcomes", "{verification}", "Verify answers by reason");
        _rateLimitRejections = Meter.CreateCounter<long>("userkeys.rate_limit.rejections", "{request}", "Requests refused with 429, by policy");
        CacheHits = Meter.CreateCounter<long>("userkeys.auth_cache.hits", "{lookup}", "Token lookups answered from the auth cache");
        CacheMisses = Meter.CreateCounter<long>("userkeys.auth_cache.misses", "{lookup}", "Token lookups the auth cache could not answer");
        CacheEvictions = Meter.CreateCounter<long>("userkeys.auth_cache.evictions", "{entry}", "Entries removed from the auth cache, by reason");
    }

    public Meter Meter { get; }

    public Counter<long> CacheHits { get; }

    public Counter<long> CacheMisses { get; }

    public Counter<long> CacheEvictions { get; }

    public void Verified(string reason) => _verifyOutcomes.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void RateLimited(string policy) => _rateLimitRejections.Add(1, new KeyValuePair<string, object?>("policy", policy));
}

/// <summary>
/// OpenTelemetry: metrics on a Prometheus scrape endpoint of their own (<c>UserKeys__MetricsUrls</c>, never the public
/// port), traces over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set. Neither is on unless configured: a service
/// without them pays for no listener.
/// </summary>
internal static class Telemetry
{
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public const string ScrapePath = "/metrics";

    public static IServiceCollection AddUserKeysTelemetry(this IServiceCollection services, IConfiguration configuration, ServiceOptions options)
    {
        services.AddSingleton<ServiceMetrics>();
        var metricsUrls = options.MetricsUrlList();
        var tracing = !string.IsNullOrWhiteSpace(configuration[OtlpEndpointVariable]);
        if (metricsUrls.Count == 0 && !tracing)
        {
            return services;
        }

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] ?? "userkeys"));
        if (metricsUrls.Count > 0)
        {
            var first = new Uri(metricsUrls[0]);
            telemetry.WithMetrics(metrics => metrics.AddUserKeysInstruments().AddPrometheusHttpListener(exporter =>
            {
                exporter.Host = first.Host;
                exporter.Port = first.Port;
                exporter.ScrapeEndpointPath = ScrapePath;
                exporter.ConfigureHttpListener = (_, listener) =>
                {
                    foreach (var url in metricsUrls.Skip(1))
                    {
                        listener.Prefixes.Add($"{url.TrimEnd('/')}{ScrapePath}/");
                    }
                };
            }));
        }

        if (tracing)
        {
            // The endpoint, protocol and headers come from the standard OTEL_EXPORTER_OTLP_* variables.
            telemetry.WithTracing(traces => traces.AddUserKeysSources().AddOtlpExporter());
        }

        return services;
    }

    /// <summary>Every meter the service reports: its own, ASP.NET Core's requests, Kestrel's connections, Npgsql's pool and commands.</summary>
    /// <remarks>
    /// Instruments recorded per statement or per routing attempt are dropped (a dropped instrument is disabled, so
    /// nothing is recorded): per request they cost more than the request's own histogram, and a statement's timing is
    /// in its trace span. Npgsql's pool state stays.
    /// </remarks>
    public static MeterProviderBuilder AddUserKeysInstruments(this MeterProviderBuilder metrics)
    {
        metrics.AddMeter(ServiceMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddMeter("Microsoft.AspNetCore.Server.Kestrel")
            .AddNpgsqlInstrumentation();
        foreach (var perCall in PerCallInstruments)
        {
            metrics.AddView(perCall, MetricStreamConfiguration.Drop);
        }

        return metrics;
    }

    private static readonly string[] PerCallInstruments =
    [
        "db.client.operation.duration",
        "db.client.operation.npgsql.executing",
        "db.client.operation.npgsql.bytes_written",
        "db.client.operation.npgsql.bytes_read",
        "db.client.operation.npgsql.prepared_ratio",
        "aspnetcore.routing.match_attempts",
    ];

    /// <summary>A span per request (ASP.NET Core) and per statement (Npgsql, without its text's parameters).</summary>
    public static TracerProviderBuilder AddUserKeysSources(this TracerProviderBuilder traces) =>
        traces.AddAspNetCoreInstrumentation(aspNetCore =>
            {
                // Health probes are polled every few seconds by every orchestrator: not worth a trace each.
                aspNetCore.Filter = context => !context.Request.Path.StartsWithSegments("/healthz") && !context.Request.Path.StartsWithSegments("/readyz");
            })
            .AddNpgsql();
}
