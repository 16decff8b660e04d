using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>A key's own rate limits in verify (usage control), through one instance.</summary>
public sealed class RateLimitKeyTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private async Task<JsonElement> Verify(string token, int? cost = null)
    {
        using var anonymous = api.Client();
        object body = cost is null ? new { token } : new { token, cost };
        return await (await anonymous.PostJson("/v1/keys/verify", body)).Expect(HttpStatusCode.OK);
    }

    /// <summary>A day's window by default: a test never straddles two windows (windows align to the epoch, a minute's to every minute).</summary>
    private static object Limit(string name, long limit, long durationMs = Day) => new { name, limit, duration_ms = durationMs };

    private const long Day = 86_400_000;

    [Fact]
    public async Task Each_limit_grants_its_units_per_window_and_a_refusal_names_it_and_takes_nothing()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { remaining = 10, rate_limits = new[] { Limit("per-minute", 3), Limit("burst", 100) } });
        Assert.Equal(2, key.GetProperty("rate_limits").GetArrayLength());
        Assert.Equal(Day, key.GetProperty("rate_limits")[0].Long("duration_ms"));

        var answers = new List<JsonElement>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await Verify(key.Str("token")));
        }

        Assert.All(answers, answer => Assert.True(answer.GetProperty("valid").GetBoolean()));
        Assert.Equal([2L, 1L, 0L], answers.Select(answer => answer.GetProperty("rate_limits")[0].Long("remaining")));
        Assert.Equal([99L, 98L, 97L], answers.Select(answer => answer.GetProperty("rate_limits")[1].Long("remaining")));
        var resetAt = DateTimeOffset.Parse(answers[0].GetProperty("rate_limits")[0].Str("reset_at"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(DateTime.UtcNow.Date.AddDays(1), resetAt.UtcDateTime); // a day's window ends at UTC midnight
        Assert.Equal("per-minute", answers[0].GetProperty("rate_limits")[0].Str("name"));
        Assert.Equal(3, answers[0].GetProperty("rate_limits")[0].Long("limit"));

        var refused = await Verify(key.Str("token"));
        Assert.False(refused.GetProperty("valid").GetBoolean());
        Assert.Equal("rate_limited", refused.Str("reason"));
        Assert.Equal("per-minute", refused.Str("rate_limit"));
        Assert.Equal(answers[0].GetProperty("rate_limits")[0].Str("reset_at"), refused.Str("reset_at"));

        // The refusal took nothing: not from the other limit, not from the credits.
        var check = await Verify(key.Str("token"), 0);
        Assert.Equal(7, check.Long("remaining"));
        Assert.Equal(97, check.GetProperty("rate_limits")[1].Long("remaining"));
    }

    [Fact]
    public async Task Credits_that_refuse_give_the_rate_limit_units_back()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { remaining = 1, rate_limits = new[] { Limit("per-minute", 5) } });

        Assert.Equal(4, (await Verify(key.Str("token"))).GetProperty("rate_limits")[0].Long("remaining"));
        Assert.Equal("usage_exceeded", (await Verify(key.Str("token"))).Str("reason"));
        Assert.Equal(4, (await Verify(key.Str("token"), 0)).GetProperty("rate_limits")[0].Long("remaining"));
    }

    [Fact]
    public async Task Bad_rate_limits_are_400_and_only_admins_set_them()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        await (await client.PostJson($"/v1/users/{member.Id}/keys", new { rate_limits = new[] { Limit("a", 1) } })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchRaw($"/v1/users/{member.Id}/keys/{member.KeyId}", """{"rate_limits":[]}""")).Expect(HttpStatusCode.Forbidden);

        var bad = await (await admin.PostJson($"/v1/users/{member.Id}/keys", new
        {
            rate_limits = new[] { Limit("a", 0), Limit("a", 5), Limit("b c", 1), Limit("d", 1, 999), Limit("e", 1_000_001), Limit("f", 1) },
        })).Expect(HttpStatusCode.BadRequest);
        var messages = bad.GetProperty("errors").GetProperty("rate_limits").EnumerateArray().Select(message => message.GetString()!).ToList();
        Assert.Contains(messages, message => message.Contains("at most 5", StringComparison.Ordinal));
        Assert.Contains(messages, message => message.Contains("[0].limit", StringComparison.Ordinal));
        Assert.Contains(messages, message => message.Contains("used twice", StringComparison.Ordinal));
        Assert.Contains(messages, message => message.Contains("[2].name", StringComparison.Ordinal));
        Assert.Contains(messages, message => message.Contains("[3].duration_ms", StringComparison.Ordinal));
        Assert.Contains(messages, message => message.Contains("[4].limit", StringComparison.Ordinal));
        var shape = await (await admin.PostRaw($"/v1/users/{member.Id}/keys", """{"rate_limits":[{"name":"x"}]}""")).Expect(HttpStatusCode.BadRequest);
        Assert.Contains("duration_ms", shape.GetProperty("errors").GetProperty("rate_limits")[0].GetString());

        var key = await api.IssueKey(member.Id, new { rate_limits = new[] { Limit("a", 1) } });
        var path = $"/v1/users/{member.Id}/keys/{key.Long("id")}";
        Assert.Equal("rate_limited", (await Verify(key.Str("token"), 2)).Str("reason"));
        var raised = await (await admin.PatchJson(path, new { rate_limits = new[] { Limit("a", 10) } })).Expect(HttpStatusCode.OK);
        Assert.Equal(10, raised.GetProperty("rate_limits")[0].Long("limit"));
        Assert.True((await Verify(key.Str("token"), 2)).GetProperty("valid").GetBoolean());
        var removed = await (await admin.PatchRaw(path, """{"rate_limits":null}""")).Expect(HttpStatusCode.OK);
        Assert.Empty(removed.GetProperty("rate_limits").EnumerateArray());
        Assert.Empty((await Verify(key.Str("token"))).GetProperty("rate_limits").EnumerateArray());
    }
}

/// <summary>A rate limit across two real service processes: every window grants at most its limit, and at least 90% of it under more demand.</summary>
public sealed class RateLimitProcessTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();

    public Task InitializeAsync() => _api.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_api).DisposeAsync();

    [Fact]
    public async Task Across_two_processes_each_window_grants_at_most_the_limit_and_at_least_90_percent_of_it()
    {
        const int Limit = 200;
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id, new { rate_limits = new[] { new { name = "per-second", limit = Limit, duration_ms = 1000 } } });
        await using var one = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await using var two = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        var clients = new[] { one.Client(null), two.Client(null) };
        var grantsByWindow = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var refused = 0;
        var other = 0;
        var clock = Stopwatch.StartNew();
        var sent = 0;

        // More demand than the limit, from both processes, for a bounded 4.5 s (and at most 150,000 requests: refusals from
        // memory are fast).
        await Task.WhenAll(Enumerable.Range(0, 32).Select(async worker =>
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(4.5) && Interlocked.Increment(ref sent) <= 150_000)
            {
                var response = await clients[worker % 2].PostJson("/v1/keys/verify", new { token = key.Str("token") });
                var body = response.StatusCode == HttpStatusCode.OK ? await response.Json() : default;
                if (body.ValueKind != JsonValueKind.Object)
                {
                    Interlocked.Increment(ref other);
                }
                else if (body.GetProperty("valid").GetBoolean())
                {
                    grantsByWindow.AddOrUpdate(body.GetProperty("rate_limits")[0].Str("reset_at"), 1, (_, count) => count + 1);
                }
                else if (body.Str("reason") == "rate_limited")
                {
                    Interlocked.Increment(ref refused);
                }
                else
                {
                    Interlocked.Increment(ref other);
                }
            }
        }));
        foreach (var client in clients)
        {
            client.Dispose();
        }

        var windows = grantsByWindow.OrderBy(pair => pair.Key, StringComparer.Ordinal).ToList();
        Console.WriteLine($"rate limit {Limit}/s across two processes: {string.Join(", ", windows.Select(pair => pair.Value))} granted per window; {refused} rate_limited");
        Assert.Equal(0, other);
        Assert.True(refused > 0, "demand never exceeded the limit");
        Assert.All(windows, pair => Assert.True(pair.Value <= Limit, $"window ending {pair.Key} granted {pair.Value} > {Limit}"));
        // The first and the last window are cut by the test's start and end; every one between ran under full demand.
        var full = windows.Skip(1).SkipLast(1).ToList();
        Assert.True(full.Count >= 2, $"only {full.Count} whole windows");
        Assert.All(full, pair => Assert.True(pair.Value >= Limit * 9 / 10, $"window ending {pair.Key} granted only {pair.Value} of {Limit}"));
    }
}
