using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using UserKeys.Api.Auth;

namespace UserKeys.Api.Tests;

/// <summary>The service with the contract's default rate limits (20 failures a second per address, burst 40).</summary>
public sealed class DefaultLimitsFactory : ApiFactory
{
    protected override void ConfigureSettings(IWebHostBuilder builder)
    {
        builder.UseSetting("UserKeys:RateLimits:FailuresPerAddressPerSecond", "20");
        builder.UseSetting("UserKeys:RateLimits:PerKeyPerSecond", "50");
    }
}

/// <summary>
/// Abuse costs the caller, not the database: refused tokens are limited per client address before any
/// database work, calls per key, and endpoints that need no caller never look at the Authorization header.
/// Each test uses client addresses of its own (set on the in-memory connection), so the tests are independent.
/// </summary>
public sealed class AbuseTests(DefaultLimitsFactory api) : IClassFixture<DefaultLimitsFactory>
{
    private static int _nextAddress;

    /// <summary>An address no other request of this test run used (10.0.0.1, 10.0.0.2, ...).</summary>
    private static IPAddress NewAddress()
    {
        var n = Interlocked.Increment(ref _nextAddress);
        return new IPAddress([10, (byte)(n >> 16), (byte)(n >> 8), (byte)n]);
    }

    private static string RandomWellFormedToken() => ApiToken.Generate().Token;

    /// <summary>One request as if from <paramref name="address"/>.</summary>
    private Task<HttpContext> Send(IPAddress address, string method, string path, string? bearer = null, string? json = null) =>
        api.Server.SendAsync(context =>
        {
            context.Connection.RemoteIpAddress = address;
            context.Request.Method = method;
            context.Request.Path = path;
            if (bearer is not null)
            {
                context.Request.Headers.Authorization = "Bearer " + bearer;
            }

            if (json is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(json);
                context.Request.ContentType = "application/json";
                context.Request.ContentLength = bytes.Length;
                context.Request.Body = new MemoryStream(bytes);
            }
        });

    private Task<HttpContext> Verify(IPAddress address, string token) =>
        Send(address, "POST", "/v1/keys/verify", json: $"{{\"token\":\"{token}\"}}");

    [Fact]
    public async Task A_flood_of_random_tokens_from_one_address_is_mostly_429_and_costs_few_statements()
    {
        var address = NewAddress();
        var statuses = new Dictionary<int, int>();
        using var counter = new StatementCounter(api.Database.Name);
        var statements = await counter.Measure(async () =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var context = i % 2 == 0
                    ? await Verify(address, RandomWellFormedToken())
                    : await Send(address, "GET", "/v1/users/me", RandomWellFormedToken());
                statuses[context.Response.StatusCode] = statuses.GetValueOrDefault(context.Response.StatusCode) + 1;
                if (context.Response.StatusCode == 429)
                {
                    Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
                    Assert.Equal("\"failures\";q=20;w=1", context.Response.Headers["RateLimit-Policy"].ToString());
                    Assert.StartsWith("\"failures\";r=0;t=", context.Response.Headers["RateLimit"].ToString(), StringComparison.Ordinal);
                    Assert.Equal("application/problem+json", context.Response.ContentType);
                }
            }
        });

        Assert.DoesNotContain(statuses.Keys, status => status >= 500);
        Assert.True(statuses.GetValueOrDefault(429) >= 1800, $"statuses: {string.Join(", ", statuses.Select(pair => $"{pair.Key} x {pair.Value}"))}");
        // The burst (40) and what refills while the flood runs: each costs one lookup; the 429s cost none.
        var refused = statuses.Where(pair => pair.Key != 429).Sum(pair => pair.Value);
        Assert.True(statements <= refused, $"{statements} statements for {refused} checked tokens");
        Console.WriteLine($"abuse: 2,000 random tokens from one address: {string.Join(", ", statuses.Select(pair => $"{pair.Value} x {pair.Key}"))}; {statements} statements");

        // Another address is not affected, and neither is a valid key from the flooded address.
        Assert.Equal(200, (await Verify(NewAddress(), RandomWellFormedToken())).Response.StatusCode);
        var member = await api.CreateUserWithKey();
        Assert.Equal(200, (await Send(NewAddress(), "GET", "/v1/users/me", member.Token)).Response.StatusCode); // cached now
        Assert.Equal(200, (await Send(address, "GET", "/v1/users/me", member.Token)).Response.StatusCode);
    }

    [Fact]
    public async Task Without_the_address_limit_every_random_token_costs_a_statement()
    {
        // The reference for the flood above: what 1,000 random tokens cost with FailuresPerAddressPerSecond = 0.
        await using var unlimited = new UnlimitedFactory();
        await ((Xunit.IAsyncLifetime)unlimited).InitializeAsync();
        try
        {
            using var client = unlimited.Client();
            // Started: what the host does once at start is not part of the measure.
            await (await client.GetAsync("/readyz")).Expect(HttpStatusCode.OK);
            using var counter = new StatementCounter(unlimited.Database.Name);
            var statements = await counter.Measure(async () =>
            {
                for (var i = 0; i < 1000; i++)
                {
                    var verdict = await (await client.PostJson("/v1/keys/verify", new { token = RandomWellFormedToken() })).Expect(HttpStatusCode.OK);
                    Assert.Equal("not_found", verdict.Str("reason"));
                }
            });

            Console.WriteLine($"abuse: 1,000 random tokens with no address limit cost {statements} statements");
            Assert.Equal(1000, statements);
        }
        finally
        {
            await ((Xunit.IAsyncLifetime)unlimited).DisposeAsync();
        }
    }

    [Fact]
    public async Task The_same_dead_token_sent_500_times_costs_a_handful_of_statements()
    {
        var member = await api.CreateUserWithKey();
        using (var admin = api.Admin())
        {
            await (await admin.PostAsync($"/v1/users/{member.Id}/keys/{member.KeyId}/revoke", null)).Expect(HttpStatusCode.OK);
        }

        var statuses = new Dictionary<int, int>();
        using var counter = new StatementCounter(api.Database.Name);
        var statements = await counter.Measure(async () =>
        {
            for (var i = 0; i < 500; i++)
            {
                // A fresh address each time: this is about the dead-token memory, not the address limit.
                var context = await Send(NewAddress(), "GET", "/v1/users/me", member.Token);
                statuses[context.Response.StatusCode] = statuses.GetValueOrDefault(context.Response.StatusCode) + 1;
            }
        });

        Assert.Equal([401], statuses.Keys);
        Assert.True(statements <= 3, $"{statements} statements for 500 requests with one revoked token");
    }

    [Fact]
    public async Task Endpoints_that_need_no_caller_never_read_the_authorization_header()
    {
        var address = NewAddress();
        using var counter = new StatementCounter(api.Database.Name);
        var statements = await counter.Measure(async () =>
        {
            foreach (var bearer in new[] { RandomWellFormedToken(), "garbage", api.AdminToken })
            {
                Assert.Equal(200, (await Send(address, "GET", "/healthz", bearer)).Response.StatusCode);
                Assert.Equal(200, (await Send(address, "GET", "/openapi/v1.json", bearer)).Response.StatusCode);
                Assert.Equal(404, (await Send(address, "GET", "/no/such/path", bearer)).Response.StatusCode);
            }
        });

        Assert.Equal(0, statements);
    }

    [Fact]
    public async Task Calls_with_one_key_beyond_its_rate_are_429_and_other_keys_are_not_affected()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        var address = NewAddress();
        var statuses = new List<int>();
        for (var i = 0; i < 300; i++)
        {
            var context = await Send(address, "GET", "/v1/users/me", member.Token);
            statuses.Add(context.Response.StatusCode);
            if (context.Response.StatusCode == 429)
            {
                Assert.Equal("\"per-key\";q=50;w=1", context.Response.Headers["RateLimit-Policy"].ToString());
                Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
            }
        }

        // Burst 100, refilled at 50 a second: most of 300 quick calls are refused, none fails otherwise.
        Assert.True(statuses.Count(status => status == 429) >= 100, $"429s: {statuses.Count(status => status == 429)}");
        Assert.All(statuses, status => Assert.Contains(status, new[] { 200, 429 }));
        Assert.Equal(200, (await Send(address, "GET", "/v1/users/me", other.Token)).Response.StatusCode);
    }

    [Fact]
    public async Task Verify_with_a_bearer_key_needs_keys_verify_and_counts_refused_tokens_against_that_key_not_the_address()
    {
        var relying = await api.CreateUserWithKey();
        var narrow = await api.IssueKey(relying.Id, new { name = "narrow", scopes = new[] { "users:read" } });
        var other = await api.IssueKey(relying.Id, new { name = "other relying service" });
        var address = NewAddress();

        var forbidden = await Send(address, "POST", "/v1/keys/verify", narrow.Str("token"), $"{{\"token\":\"{relying.Token}\"}}");
        Assert.Equal(403, forbidden.Response.StatusCode);
        Assert.Equal(200, (await Send(address, "POST", "/v1/keys/verify", relying.Token, $"{{\"token\":\"{other.Str("token")}\"}}")).Response.StatusCode);

        // With keys:verify, refused tokens use up that key's failures (the burst of 40), not the address's.
        var statuses = new List<int>();
        for (var i = 0; i < 60; i++)
        {
            var context = await Send(address, "POST", "/v1/keys/verify", relying.Token, $"{{\"token\":\"{RandomWellFormedToken()}\"}}");
            statuses.Add(context.Response.StatusCode);
        }

        Assert.InRange(statuses.Count(status => status == 200), 40, 45);
        Assert.All(statuses.SkipWhile(status => status == 200), status => Assert.Equal(429, status));
        // A valid key it verified before is still answered (valid keys are never throttled), and another key is not limited.
        Assert.Equal(200, (await Send(address, "POST", "/v1/keys/verify", relying.Token, $"{{\"token\":\"{other.Str("token")}\"}}")).Response.StatusCode);
        Assert.Equal(200, (await Send(address, "POST", "/v1/keys/verify", other.Str("token"), $"{{\"token\":\"{RandomWellFormedToken()}\"}}")).Response.StatusCode);
        Assert.Equal(401, (await Send(address, "POST", "/v1/keys/verify", RandomWellFormedToken(), $"{{\"token\":\"{relying.Token}\"}}")).Response.StatusCode);
    }

    [Fact]
    public async Task Addresses_of_one_ipv6_64_block_share_their_failures()
    {
        var block = new byte[] { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, (byte)Interlocked.Increment(ref _nextAddress) };
        IPAddress InBlock(int host) => new([.. block, 0, 0, 0, 0, (byte)(host >> 24), (byte)(host >> 16), (byte)(host >> 8), (byte)host]);

        // Each token from another address of the block: rotating addresses escapes nothing.
        var statuses = new List<int>();
        for (var i = 0; i < 60; i++)
        {
            statuses.Add((await Verify(InBlock(i + 1), RandomWellFormedToken())).Response.StatusCode);
        }

        Assert.InRange(statuses.Count(status => status == 200), 40, 45);
        Assert.Equal(429, statuses[^1]);
        var neighbour = new IPAddress([.. block[..7], (byte)(block[7] + 1), 0, 0, 0, 0, 0, 0, 0, 1]);
        Assert.Equal(200, (await Verify(neighbour, RandomWellFormedToken())).Response.StatusCode);
        Assert.Equal("2001:db8::/64", Infrastructure.RateLimits.Partition(IPAddress.Parse("2001:db8::1")));
        Assert.Equal("10.1.2.3", Infrastructure.RateLimits.Partition(IPAddress.Parse("::ffff:10.1.2.3")));
    }

    private sealed class UnlimitedFactory : ApiFactory
    {
        protected override void ConfigureSettings(IWebHostBuilder builder) =>
            builder.UseSetting("UserKeys:RateLimits:FailuresPerAddressPerSecond", "0");
    }
}
