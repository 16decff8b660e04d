using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using UserKeys.Api.Infrastructure;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>The service's metrics and traces, read back through OpenTelemetry's in-memory exporters.</summary>
public sealed class TelemetryApiFactory : ApiFactory
{
    public List<Metric> Metrics { get; } = [];

    public List<Activity> Spans { get; } = [];

    protected override void ConfigureSettings(IWebHostBuilder builder) =>
        builder.UseSetting("UserKeys:RateLimits:FailuresPerAddressPerSecond", "2");

    /// <summary>
    /// Tags this host's meter: the other test classes' hosts run in the same process at the same time, and a meter
    /// listener hears every meter of its name there.
    /// </summary>
    private readonly KeyValuePair<string, object?> _host = new("test.host", Guid.NewGuid().ToString("N"));

    protected override void ConfigureTestServices(IServiceCollection services)
    {
        services.AddSingleton(provider => new ServiceMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), [_host]));
        services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics.AddUserKeysInstruments().AddInMemoryExporter(Metrics))
            .WithTracing(traces => traces.AddUserKeysSources().AddInMemoryExporter(Spans));
    }

    /// <summary>Collects now; the latest value of every metric point.</summary>
    public IReadOnlyList<(string Name, Dictionary<string, object?> Tags, double Value)> Collect()
    {
        Metrics.Clear();
        Services.GetRequiredService<MeterProvider>().ForceFlush();
        var points = new List<(string, Dictionary<string, object?>, double)>();
        foreach (var metric in Metrics.Where(metric => metric.MeterName != ServiceMetrics.MeterName || (metric.MeterTags?.Contains(_host) ?? false)))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var tags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags)
                {
                    tags[tag.Key] = tag.Value;
                }

                double value = metric.MetricType switch
                {
                    MetricType.LongSum or MetricType.LongSumNonMonotonic => point.GetSumLong(),
                    MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic => point.GetSumDouble(),
                    MetricType.LongGauge => point.GetGaugeLastValueLong(),
                    MetricType.DoubleGauge => point.GetGaugeLastValueDouble(),
                    MetricType.Histogram => point.GetHistogramCount(),
                    _ => double.NaN,
                };
                points.Add((metric.Name, tags, value));
            }
        }

        return points;
    }
}

/// <summary>
/// Runs alone. Every host's meter listener hears every meter of a name in the process, and OpenTelemetry keeps one
/// stream per instrument name: when another test class's host stopped meanwhile, its disposed
/// <c>http.server.request.duration</c> ended that stream here too, and this host's requests were no longer exported
/// (a delta of 0 after 10 s, now and then in a full run).
/// </summary>
[CollectionDefinition(nameof(TelemetryTests), DisableParallelization = true)]
public sealed class TelemetryCollection;

[Collection(nameof(TelemetryTests))]
public sealed class TelemetryTests(TelemetryApiFactory api) : IClassFixture<TelemetryApiFactory>
{
    private static double Sum(IEnumerable<(string Name, Dictionary<string, object?> Tags, double Value)> points, string name, string? tag = null, string? value = null) =>
        points.Where(point => point.Name == name && (tag is null || Equals(point.Tags.GetValueOrDefault(tag), value))).Sum(point => point.Value);

    /// <summary>GET requests of <paramref name="route"/> measured so far.</summary>
    private static double Gets(IEnumerable<(string Name, Dictionary<string, object?> Tags, double Value)> points, string route) =>
        points.Where(point => point.Name == "http.server.request.duration" && Equals(point.Tags.GetValueOrDefault("http.route"), route)
            && Equals(point.Tags.GetValueOrDefault("http.request.method"), "GET")).Sum(point => point.Value);

    [Fact]
    public async Task Requests_by_route_verify_outcomes_cache_pool_listener_and_rate_limits_are_measured()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id);
        var token = key.Str("token");
        using var admin = api.Admin();
        using var anonymous = api.Client();
        var serving = await Poll.UntilAsync(() => Task.FromResult(Sum(api.Collect(), "userkeys.auth_cache.serving")), on => on == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, serving.Value);
        var before = api.Collect();

        for (var i = 0; i < 3; i++)
        {
            await (await admin.GetAsync($"/v1/users/{owner.Id}")).Expect(HttpStatusCode.OK);
            await (await anonymous.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
        }

        await (await admin.PostAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        Assert.Equal("revoked", (await (await anonymous.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).Str("reason"));
        // Unknown tokens from one address: the failure limit (2 a second, burst 4) answers 429 within ten.
        var tooMany = 0;
        for (var i = 0; i < 10; i++)
        {
            var response = await anonymous.PostJson("/v1/keys/verify", new { token = "uk_0000000000000000000000000000000000000000000000" });
            tooMany += response.StatusCode == HttpStatusCode.TooManyRequests ? 1 : 0;
        }

        Assert.True(tooMany > 0);
        // ASP.NET Core records a request's duration when its context is disposed, which may be after the client has the answer.
        const string UserRoute = "/v1/users/{id:long}";
        var after = (await Poll.UntilAsync(() => Task.FromResult(api.Collect()),
            points => Gets(points, UserRoute) - Gets(before, UserRoute) >= 3,
            TimeSpan.FromSeconds(10))).Value;
        double Delta(string name, string? tag = null, string? value = null) => Sum(after, name, tag, value) - Sum(before, name, tag, value);

        Assert.Equal(3, Gets(after, UserRoute) - Gets(before, UserRoute));
        Assert.Equal(3, Delta("userkeys.verify.outcomes", "reason", "valid"));
        Assert.Equal(1, Delta("userkeys.verify.outcomes", "reason", "revoked"));
        Assert.True(Delta("userkeys.verify.outcomes", "reason", "malformed") + Delta("userkeys.verify.outcomes", "reason", "not_found") >= 1);
        Assert.Equal(tooMany, Delta("userkeys.rate_limit.rejections", "policy", FailureLimiter.PolicyName));
        Assert.True(Delta("userkeys.auth_cache.hits") >= 4, "the admin's key and the verified key were served from the cache");
        Assert.True(Delta("userkeys.auth_cache.misses") >= 1);
        Assert.True(Delta("userkeys.auth_cache.evictions", "reason", "changed") >= 1, "the revoke evicted the key");
        // A gauge of the listener's state: 1 while connected (a loaded machine may make it reconnect now and then).
        var connected = await Poll.UntilAsync(() => Task.FromResult(Sum(api.Collect(), "userkeys.listener.connected")), value => value == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(1, connected.Value);
        Assert.True(Sum(after, "userkeys.auth_cache.entries") >= 1);
        Assert.Contains(after, point => point.Name == "db.client.connection.count" && Equals(point.Tags.GetValueOrDefault("db.client.connection.pool.name"), "userkeys"));
        Assert.DoesNotContain(after, point => point.Tags.Values.Any(tagValue => tagValue is string text && text.Contains(token, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_request_is_one_trace_with_its_statements_and_the_log_line_names_it()
    {
        var owner = await api.CreateUserWithKey();
        using var admin = api.Admin();
        await (await admin.PatchJson($"/v1/users/{owner.Id}", new { name = "Traced" })).Expect(HttpStatusCode.OK);

        var server = await Poll.UntilAsync(
            () => Task.FromResult(api.Spans.ToArray().LastOrDefault(span => span.Kind == ActivityKind.Server && span.GetTagItem("http.route") is "/v1/users/{id:long}"
                && span.GetTagItem("http.request.method") is "PATCH")),
            span => span is not null, TimeSpan.FromSeconds(10));
        var request = server.Value ?? throw new InvalidOperationException("no server span for PATCH /v1/users/{id}");
        var statements = api.Spans.ToArray().Where(span => span.TraceId == request.TraceId && span.Kind == ActivityKind.Client).ToList();
        Assert.NotEmpty(statements); // Npgsql's spans: the BEGIN with the actor, the UPDATE, the COMMIT
        Assert.All(statements, span => Assert.Equal(request.TraceId, span.TraceId));
        var traceId = request.TraceId.ToHexString();
        Assert.Contains(api.Logs.Lines, line => line.Contains("HTTP PATCH /v1/users/{id:long} responded 200", StringComparison.Ordinal)
            && line.Contains($"trace {traceId}", StringComparison.Ordinal));
    }
}

/// <summary>The real process: Prometheus on its own port (never the public one), traces over OTLP/HTTP to a receiver.</summary>
public sealed class TelemetryProcessTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();

    public Task InitializeAsync() => _api.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_api).DisposeAsync();

    [Fact]
    public async Task Metrics_are_scraped_on_their_own_port_and_traces_reach_the_otlp_endpoint()
    {
        var metricsPort = Ports.Free();
        using var receiver = new OtlpReceiver();
        await using var service = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString, new Dictionary<string, string>
        {
            ["UserKeys__MetricsUrls"] = $"http://127.0.0.1:{metricsPort}",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Url,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["Logging__LogLevel__UserKeys.Api.Infrastructure.RequestLogging"] = "Information",
        });
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id);
        using var client = service.Client(null);
        for (var i = 0; i < 5; i++)
        {
            await (await client.PostJson("/v1/keys/verify", new { token = key.Str("token") })).Expect(HttpStatusCode.OK);
        }

        using var scraper = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var scrape = await scraper.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.Contains("userkeys_verify_outcomes_total{", scrape, StringComparison.Ordinal);
        Assert.Contains("reason=\"valid\"", scrape, StringComparison.Ordinal);
        Assert.Contains("http_route=\"/v1/keys/verify\"", scrape, StringComparison.Ordinal);
        Assert.Contains("userkeys_auth_cache_hits_total", scrape, StringComparison.Ordinal);
        Assert.Contains("db_client_connection_", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Str("token"), scrape, StringComparison.Ordinal);

        // The public port has no metrics.
        var onPublic = await client.GetAsync("/metrics");
        Assert.NotEqual(HttpStatusCode.OK, onPublic.StatusCode);
        Assert.DoesNotContain("userkeys_verify_outcomes_total", await onPublic.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The request's trace id, from its log line, arrives at the OTLP endpoint (as the 16 bytes of the span's trace id).
        var logged = await Poll.UntilAsync(() => Task.FromResult(service.Output), output => output.Contains("responded 200", StringComparison.Ordinal)
            && output.Contains(" trace ", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        var line = logged.Value.Split('\n').Last(text => text.Contains("HTTP POST /v1/keys/verify responded 200", StringComparison.Ordinal));
        var traceId = Convert.FromHexString(line[(line.LastIndexOf(" trace ", StringComparison.Ordinal) + 7)..].Trim());
        var exported = await Poll.UntilAsync(() => Task.FromResult(receiver.Received(traceId)), found => found, TimeSpan.FromSeconds(15));
        Assert.True(exported.Value, $"no OTLP export carried trace {Convert.ToHexString(traceId)}; {receiver.Requests} requests received");
    }

    /// <summary>An OTLP/HTTP receiver on 127.0.0.1 that keeps every body POSTed to <c>/v1/traces</c>.</summary>
    private sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> _bodies = new();
        private readonly Task _loop;

        public OtlpReceiver()
        {
            var port = Ports.Free();
            Url = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _loop = Task.Run(ServeAsync);
        }

        public string Url { get; }

        public int Requests => _bodies.Count;

        public bool Received(byte[] traceId) => _bodies.Any(body => body.AsSpan().IndexOf(traceId) >= 0);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception error) when (error is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                if (context.Request.Url?.AbsolutePath == "/v1/traces")
                {
                    _bodies.Enqueue(body.ToArray());
                }

                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
