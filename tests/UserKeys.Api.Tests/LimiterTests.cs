using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// What the limiters cost the database under a flood (migration 0020's review): readiness probes, and refused
/// verifications of an exhausted key; and what the audit trail keeps of a caller's trace context.
/// </summary>
public sealed class LimiterTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private async Task<string> Verdict(string token)
    {
        using var anonymous = api.Client();
        var answer = await (await anonymous.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
        return answer.GetProperty("valid").GetBoolean() ? "valid" : answer.Str("reason");
    }

    [Fact]
    public async Task A_flood_of_readiness_probes_costs_at_most_one_check_a_second()
    {
        using var anonymous = api.Client();
        using var counter = new StatementCounter(api.Database.Name);
        var clock = Stopwatch.StartNew();

        var statements = await counter.Measure(async () =>
        {
            var probes = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => anonymous.GetAsync("/readyz")));
            Assert.All(probes, probe => Assert.Equal(HttpStatusCode.OK, probe.StatusCode));
        });

        // Two statements a check (the journal, the privileges), one check per second begun.
        Assert.InRange(statements, 0, 2 * ((int)clock.Elapsed.TotalSeconds + 2));
    }

    [Fact]
    public async Task Refused_verifications_of_an_exhausted_key_write_nothing()
    {
        var owner = await api.CreateUserWithKey();
        var credits = await api.IssueKey(owner.Id, new { remaining = 2 });
        var limited = await api.IssueKey(owner.Id, new { rate_limits = new[] { new { name = "day", limit = 2, duration_ms = 86_400_000 } } });
        foreach (var key in new[] { credits, limited })
        {
            Assert.Equal("valid", await Verdict(key.Str("token")));
            Assert.Equal("valid", await Verdict(key.Str("token")));
            await Verdict(key.Str("token")); // finds it exhausted
        }

        using var counter = new StatementCounter(api.Database.Name);
        var clock = Stopwatch.StartNew();
        var verdicts = new List<string>();
        var statements = await counter.Measure(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                verdicts.Add(await Verdict(credits.Str("token")));
                verdicts.Add(await Verdict(limited.Str("token")));
            }
        });

        Assert.Equal(100, verdicts.Count(verdict => verdict == "usage_exceeded"));
        Assert.Equal(100, verdicts.Count(verdict => verdict == "rate_limited"));
        // At most one read a second for the credits (never a write); none for the window until it ends.
        Assert.InRange(statements, 0, (int)clock.Elapsed.TotalSeconds + 1);
    }

    [Fact]
    public async Task The_audit_trail_keeps_the_services_request_id_and_the_callers_trace_id_beside_it()
    {
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(tracing);
        var member = await api.CreateUserWithKey();
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        using var admin = api.Admin();
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/users/{member.Id}")
        {
            Content = JsonContent.Create(new { name = "Traced" }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01");

        await (await admin.SendAsync(request)).Expect(HttpStatusCode.OK);

        var events = await (await admin.GetAsync($"/v1/audit?user_id={member.Id}&action=user.updated")).Expect(HttpStatusCode.OK);
        var recorded = events.GetProperty("items")[0];
        Assert.DoesNotContain(traceId, recorded.Str("request_id"), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(recorded.Str("request_id")));
        Assert.Equal(traceId, recorded.Str("trace_id"));
    }
}
