using System.Diagnostics;
using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using UserKeys.Api.Auth;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>Two instances of the service on one database, as behind a load balancer.</summary>
public sealed class TwoInstances : IAsyncLifetime
{
    public ApiFactory One { get; private set; } = null!;

    public ApiFactory Two { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        One = new ApiFactory();
        await ((IAsyncLifetime)One).InitializeAsync();
        Two = new SecondInstance(One.Database);
        await ((IAsyncLifetime)Two).InitializeAsync();
        foreach (var instance in new[] { One, Two })
        {
            _ = instance.Server; // start it
            var cache = instance.Services.GetRequiredService<AuthCache>();
            var clock = Stopwatch.StartNew();
            while (!cache.Enabled && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }

            Assert.True(cache.Enabled, "the auth cache listener did not connect");
        }
    }

    public async Task DisposeAsync()
    {
        await Two.DisposeAsync();
        await ((IAsyncLifetime)One).DisposeAsync();
    }

    private sealed class SecondInstance(TestDatabase database) : ApiFactory
    {
        protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(database);
    }
}

public sealed class AuthCacheTests(TwoInstances instances) : IClassFixture<TwoInstances>
{
    private ApiFactory One => instances.One;

    private ApiFactory Two => instances.Two;

    /// <summary>Polls <paramref name="client"/> until it is refused; the time that took.</summary>
    private static Task<TimeSpan> TimeUntilRefused(HttpClient client, string path) => TimeUntil(client, path, refused: true);

    /// <summary>Polls <paramref name="client"/> until it is accepted again; the time that took.</summary>
    private static Task<TimeSpan> TimeUntilAccepted(HttpClient client, string path) => TimeUntil(client, path, refused: false);

    /// <summary>Polls until the answer is a refusal (<paramref name="refused"/>) or a 200 (otherwise); the time that took.</summary>
    private static async Task<TimeSpan> TimeUntil(HttpClient client, string path, bool refused)
    {
        async Task<bool> Done()
        {
            var status = (await client.GetAsync(path)).StatusCode;
            var done = (status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) == refused;
            if (!done)
            {
                Assert.Equal(refused ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, status);
            }

            return done;
        }

        return (await Poll.UntilAsync(Done, done => done, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(10))).Elapsed;
    }

    [Fact]
    public async Task A_cached_key_authenticates_without_any_statement()
    {
        var member = await One.CreateUserWithKey();
        using var client = One.Client(member.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        using var counter = new StatementCounter(One.Database.Name);
        var statements = await counter.Measure(async () => await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK));

        Assert.Equal(0, statements);
    }

    [Fact]
    public async Task A_key_revoked_on_one_instance_is_refused_by_the_other_within_a_second()
    {
        var member = await One.CreateUserWithKey();
        using var onTwo = Two.Client(member.Token);
        await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // cached on instance two

        using var onOne = One.Client(member.Token);
        await (await onOne.PostAsync($"/v1/users/{member.Id}/keys/{member.KeyId}/revoke", null)).Expect(HttpStatusCode.OK);

        // The instance that revoked refuses the very next request.
        await (await onOne.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);
        Assert.True(await TimeUntilRefused(onTwo, "/v1/users/me") < TimeSpan.FromSeconds(1));
        var verdict = await (await Two.Client().PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("revoked", verdict.Str("reason"));
    }

    [Fact]
    public async Task A_key_disabled_on_one_instance_is_refused_by_the_other_within_a_second_and_accepted_again_once_enabled()
    {
        var member = await One.CreateUserWithKey();
        using var onTwo = Two.Client(member.Token);
        await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // cached on instance two
        using var admin = One.Admin();

        await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{member.KeyId}", new { enabled = false })).Expect(HttpStatusCode.OK);
        var refused = await TimeUntilRefused(onTwo, "/v1/users/me");
        Assert.True(refused < TimeSpan.FromSeconds(1), $"instance two accepted the disabled key for {refused}");
        var verdict = await (await Two.Client().PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("disabled", verdict.Str("reason"));

        await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{member.KeyId}", new { enabled = true })).Expect(HttpStatusCode.OK);
        var accepted = await TimeUntilAccepted(onTwo, "/v1/users/me");
        Assert.True(accepted < TimeSpan.FromSeconds(1), $"instance two refused the enabled key for {accepted}");
        Console.WriteLine($"disable: refused by the other instance after {refused.TotalMilliseconds:0} ms; enable: accepted after {accepted.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task A_rolled_keys_grace_ends_on_every_instance_within_a_second()
    {
        var member = await One.CreateUserWithKey();
        using var onOne = One.Client(member.Token);
        using var onTwo = Two.Client(member.Token);
        await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // cached on instance two
        using var admin = One.Admin();

        var rolled = await (await admin.PostJson($"/v1/users/{member.Id}/keys/{member.KeyId}/roll", new { grace_seconds = 2 })).Expect(HttpStatusCode.Created);
        One.IssuedTokens.Add(rolled.Str("token"));
        var graceEnd = DateTimeOffset.Parse((await (await admin.GetAsync($"/v1/users/{member.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == member.KeyId).Str("expires_at"), System.Globalization.CultureInfo.InvariantCulture);

        // The new key works at once on both; the old one until its grace ends, then on neither.
        await (await Two.Client(rolled.Str("token")).GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        await (await onOne.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        var refusedOnOne = TimeUntilRefused(onOne, "/v1/users/me");
        var refusedOnTwo = TimeUntilRefused(onTwo, "/v1/users/me");
        await Task.WhenAll(refusedOnOne, refusedOnTwo);
        var lateness = DateTimeOffset.UtcNow - graceEnd;
        Assert.True(lateness < TimeSpan.FromSeconds(1), $"the old key was still accepted {lateness} after its grace ended");
        Assert.True(DateTimeOffset.UtcNow >= graceEnd.AddMilliseconds(-50), "the old key was refused before its grace ended");
        var verdict = await (await Two.Client().PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("expired", verdict.Str("reason"));
        await (await Two.Client(rolled.Str("token")).GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_deleted_key_or_user_is_refused_by_the_other_instance_within_a_second()
    {
        var keyOwner = await One.CreateUserWithKey();
        var userOwner = await One.CreateUserWithKey();
        using var keyOnTwo = Two.Client(keyOwner.Token);
        using var userOnTwo = Two.Client(userOwner.Token);
        await (await keyOnTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        await (await userOnTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        using var admin = One.Admin();
        await (await admin.DeleteAsync($"/v1/users/{keyOwner.Id}/keys/{keyOwner.KeyId}")).Expect(HttpStatusCode.NoContent);
        await (await admin.DeleteAsync($"/v1/users/{userOwner.Id}")).Expect(HttpStatusCode.NoContent);

        Assert.True(await TimeUntilRefused(keyOnTwo, "/v1/users/me") < TimeSpan.FromSeconds(1));
        Assert.True(await TimeUntilRefused(userOnTwo, "/v1/users/me") < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_demoted_admin_loses_admin_rights_on_the_other_instance_within_a_second()
    {
        var promoted = await One.CreateUserWithKey(role: "admin");
        using var onTwo = Two.Client(promoted.Token);
        await (await onTwo.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);

        using var admin = One.Admin();
        await (await admin.PatchJson($"/v1/users/{promoted.Id}", new { role = "member" })).Expect(HttpStatusCode.OK);

        Assert.True(await TimeUntilRefused(onTwo, "/v1/users?limit=1") < TimeSpan.FromSeconds(1));
        var me = await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.Equal("member", me.Str("role"));
    }

    /// <summary>A change made in plain SQL, by no service at all: both instances refuse within a second.</summary>
    [Theory]
    [InlineData("revoke_key_directly", "key")]
    [InlineData("expire_key_directly", "key")]
    [InlineData("delete_key_directly", "key")]
    [InlineData("delete_user_directly", "user")]
    public async Task A_key_changed_in_plain_sql_is_refused_by_both_instances_within_a_second(string statement, string target)
    {
        var member = await One.CreateUserWithKey();
        using var onOne = One.Client(member.Token);
        using var onTwo = Two.Client(member.Token);
        await (await onOne.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        await (await onTwo.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // cached on both

        await using (var connection = await One.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get(statement), new { id = target == "key" ? member.KeyId : member.Id });
        }

        var refusedOnOne = TimeUntilRefused(onOne, "/v1/users/me");
        var refusedOnTwo = TimeUntilRefused(onTwo, "/v1/users/me");
        Console.WriteLine($"revocation: {statement} refused by instance one after {(await refusedOnOne).TotalMilliseconds:0} ms, two after {(await refusedOnTwo).TotalMilliseconds:0} ms");
        Assert.True(await refusedOnOne < TimeSpan.FromSeconds(1), $"instance one still accepted the key after {await refusedOnOne}");
        Assert.True(await refusedOnTwo < TimeSpan.FromSeconds(1), $"instance two still accepted the key after {await refusedOnTwo}");
    }

    [Fact]
    public async Task An_admin_demoted_in_plain_sql_loses_admin_rights_on_both_instances_within_a_second()
    {
        var promoted = await One.CreateUserWithKey(role: "admin");
        using var onOne = One.Client(promoted.Token);
        using var onTwo = Two.Client(promoted.Token);
        await (await onOne.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
        await (await onTwo.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);

        await using (var connection = await One.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("set_role_directly"), new { id = promoted.Id, role = "member" });
        }

        Assert.True(await TimeUntilRefused(onOne, "/v1/users?limit=1") < TimeSpan.FromSeconds(1));
        Assert.True(await TimeUntilRefused(onTwo, "/v1/users?limit=1") < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_failed_revoke_leaves_the_key_working()
    {
        var member = await One.CreateUserWithKey();
        var other = await One.CreateUserWithKey();
        using var client = One.Client(member.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        await (await client.PostAsync($"/v1/users/{other.Id}/keys/{other.KeyId}/revoke", null)).Expect(HttpStatusCode.NotFound);

        using var otherClient = Two.Client(other.Token);
        await (await otherClient.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }
}

/// <summary>
/// An instance whose cache is on but which never hears notifications: what it refuses right after a
/// change, it refuses because the request that made the change evicted the entry itself.
/// </summary>
public sealed class DeafInstanceFactory : ApiFactory
{
    protected override void ConfigureTestServices(IServiceCollection services)
    {
        services.Remove(services.Single(service => service.ImplementationType == typeof(AuthCacheListener)));
        services.AddHostedService<DeafListener>();
    }

    /// <summary>Hears its own heartbeat (so the cache serves) and nothing else.</summary>
    private sealed class DeafListener(AuthCache cache, TimeProvider clock) : Microsoft.Extensions.Hosting.BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            cache.SetListening(true);
            using var heartbeat = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
            do
            {
                cache.Heard(clock.GetUtcNow());
            }
            while (await heartbeat.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
    }
}

public sealed class LocalEvictionTests(DeafInstanceFactory api) : IClassFixture<DeafInstanceFactory>
{
    [Fact]
    public async Task The_instance_that_revokes_refuses_the_next_request_without_any_notification()
    {
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.True(api.Services.GetRequiredService<AuthCache>().Count > 0);

        await (await client.PostAsync($"/v1/users/{member.Id}/keys/{member.KeyId}/revoke", null)).Expect(HttpStatusCode.OK);

        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Deleting_and_demoting_also_take_effect_on_the_next_request()
    {
        var admin = await api.CreateUserWithKey(role: "admin");
        var doomed = await api.CreateUserWithKey();
        using var asAdmin = api.Client(admin.Token);
        using var asDoomed = api.Client(doomed.Token);
        await (await asAdmin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
        await (await asDoomed.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        await (await asAdmin.DeleteAsync($"/v1/users/{doomed.Id}")).Expect(HttpStatusCode.NoContent);
        await (await asAdmin.PatchJson($"/v1/users/{admin.Id}", new { role = "member" })).Expect(HttpStatusCode.OK);

        await (await asDoomed.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);
        await (await asAdmin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_rolled_back_change_evicts_nothing_and_changes_nothing()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        // A taken email: the UPDATE fails, the request rolls back, the after-commit eviction never runs.
        await (await client.PatchJson($"/v1/users/{member.Id}", new { email = other.Email })).Expect(HttpStatusCode.Conflict);

        var me = await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.Equal(member.Email, me.Str("email"));
    }
}
