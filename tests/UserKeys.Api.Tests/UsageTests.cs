using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>Usage per key: counted by outcome in memory, written in batches, listed per hour or day with zeros.</summary>
public sealed class UsageTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private Usage.UsageCounter Counter => api.Services.GetRequiredService<Usage.UsageCounter>();

    private async Task Verify(string token, object? permissions = null)
    {
        using var anonymous = api.Client();
        await (await anonymous.PostJson("/v1/keys/verify", permissions is null ? new { token } : new { token, permissions })).Expect(HttpStatusCode.OK);
    }

    /// <summary>The bucket of the current hour (the last one listed by default).</summary>
    private static JsonElement Current(JsonElement usage)
    {
        var now = DateTime.UtcNow.Ticks;
        var hour = new DateTime(now - now % TimeSpan.TicksPerHour, DateTimeKind.Utc)
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);
        var items = usage.GetProperty("items").EnumerateArray().ToList();
        return items.SingleOrDefault(item => item.Str("start") == hour) is { ValueKind: JsonValueKind.Object } found
            ? found
            : throw new Xunit.Sdk.XunitException($"no bucket starts at {hour}: {string.Join(", ", items.Select(item => item.Str("start")))}");
    }

    [Fact]
    public async Task Verifications_and_authentications_are_counted_by_outcome_per_hour_with_zero_buckets()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { permissions = new[] { "a.read" } });
        var token = key.Str("token");
        for (var i = 0; i < 3; i++)
        {
            await Verify(token);
        }

        await Verify(token, new[] { "b.write" });
        using (var client = api.Client(token))
        {
            await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        }

        await (await admin.PostAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        await Verify(token);
        await Counter.FlushAsync(CancellationToken.None);

        var hours = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/usage")).Expect(HttpStatusCode.OK);
        Assert.Equal(24, hours.GetProperty("items").GetArrayLength());
        var now = Current(hours);
        Assert.Equal(4, now.Long("valid")); // 3 verifications and 1 authentication
        Assert.Equal(1, now.Long("insufficient_permissions"));
        Assert.Equal(1, now.Long("revoked"));
        Assert.Equal(0, now.Long("rate_limited"));
        Assert.Equal(23, hours.GetProperty("items").EnumerateArray().Count(item => item.Long("valid") == 0));

        var days = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/usage?granularity=day")).Expect(HttpStatusCode.OK);
        Assert.Equal(30, days.GetProperty("items").GetArrayLength());
        Assert.Equal(4, days.GetProperty("items")[29].Long("valid"));
        Assert.EndsWith("T00:00:00.000000+00:00", days.GetProperty("items")[0].Str("start"), StringComparison.Ordinal);

        var ranged = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/usage?from=2026-01-01T10:30:00Z&to=2026-01-01T13:00:00%2B00:00"))
            .Expect(HttpStatusCode.OK);
        Assert.Equal(["2026-01-01T10:00:00.000000+00:00", "2026-01-01T11:00:00.000000+00:00", "2026-01-01T12:00:00.000000+00:00"],
            ranged.GetProperty("items").EnumerateArray().Select(item => item.Str("start")));
    }

    [Fact]
    public async Task Counts_reach_the_database_within_ten_seconds_without_a_write_per_verification()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id);
        for (var i = 0; i < 20; i++)
        {
            await Verify(key.Str("token"));
        }

        async Task<long> Counted()
        {
            await using var connection = await api.Database.DataSource.OpenConnectionAsync();
            return (await connection.QuerySingleAsync<(long Buckets, long Valid, long Revoked, long InsufficientPermissions)>(
                TestSql.Get("usage_of_key"), new { key_id = key.Long("id") })).Valid;
        }

        var (valid, elapsed) = await Poll.UntilAsync(Counted, counted => counted == 20, TimeSpan.FromSeconds(12));

        Console.WriteLine($"usage: 20 verifications counted in the database after {elapsed.TotalSeconds:0.0} s");
        Assert.Equal(20, valid);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"took {elapsed}");
    }

    [Fact]
    public async Task A_flush_writes_every_key_in_batches_of_its_batch_size()
    {
        var owner = await api.CreateUserWithKey();
        var keys = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            keys.Add((await api.IssueKey(owner.Id)).Long("id"));
        }

        // Its own counter (the service's flushes on its own timer), two key-hours a statement: three statements.
        using var counter = new Usage.UsageCounter(
            api.Services.GetRequiredService<Infrastructure.UnitOfWorkRunner>(), TimeProvider.System,
            api.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Infrastructure.ServiceOptions>>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Usage.UsageCounter>.Instance) { BatchSize = 2 };
        for (var i = 0; i < keys.Count; i++)
        {
            for (var n = 0; n <= i; n++)
            {
                counter.Count(keys[i], Usage.UsageOutcome.Valid);
            }
        }

        await counter.FlushAsync(CancellationToken.None);

        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var counted = new List<long>();
        foreach (var key in keys)
        {
            counted.Add((await connection.QuerySingleAsync<(long Buckets, long Valid, long Revoked, long InsufficientPermissions)>(
                TestSql.Get("usage_of_key"), new { key_id = key })).Valid);
        }

        Assert.Equal([1L, 2, 3, 4, 5], counted);
    }

    [Theory]
    [InlineData("granularity=week")]
    [InlineData("from=yesterday")]
    [InlineData("from=2026-01-01T00:00:00")]
    [InlineData("from=2026-01-01T00:00:00Z&to=2026-02-01T01:00:00Z")]
    [InlineData("granularity=day&from=2024-01-01T00:00:00Z&to=2025-02-05T00:00:00Z")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")]
    [InlineData("to=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")]
    public async Task Bad_ranges_are_400(string query)
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        await (await admin.GetAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}/usage?{query}")).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_widest_ranges_are_allowed_and_another_users_key_is_404()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        var path = $"/v1/users/{owner.Id}/keys/{owner.KeyId}/usage";
        Assert.Equal(744, (await (await admin.GetAsync($"{path}?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z")).Expect(HttpStatusCode.OK))
            .GetProperty("items").GetArrayLength());
        Assert.Equal(400, (await (await admin.GetAsync($"{path}?granularity=day&from=2025-01-01T00:00:00Z&to=2026-02-05T00:00:00Z")).Expect(HttpStatusCode.OK))
            .GetProperty("items").GetArrayLength());

        using var member = api.Client(owner.Token);
        await (await member.GetAsync(path)).Expect(HttpStatusCode.OK);
        await (await member.GetAsync($"/v1/users/{other.Id}/keys/{other.KeyId}/usage")).Expect(HttpStatusCode.NotFound);
        await (await admin.GetAsync($"/v1/users/{owner.Id}/keys/{other.KeyId}/usage")).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Buckets_older_than_the_retention_are_purged()
    {
        var owner = await api.CreateUserWithKey();
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(TestSql.Get("insert_old_usage"), new { key_id = owner.KeyId, days_ago = 91 });
        await connection.ExecuteAsync(TestSql.Get("insert_old_usage"), new { key_id = owner.KeyId, days_ago = 89 });

        Assert.True(await Counter.PurgeAsync(CancellationToken.None) >= 1);

        var left = await connection.QuerySingleAsync<(long Buckets, long Valid, long Revoked, long InsufficientPermissions)>(
            TestSql.Get("usage_of_key"), new { key_id = owner.KeyId });
        Assert.Equal(1, left.Buckets);
    }
}

/// <summary>Usage counts and the process's lifetime: a graceful stop writes what it counted; a crash loses at most one interval.</summary>
public sealed class UsageProcessTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();

    public Task InitializeAsync() => _api.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_api).DisposeAsync();

    private async Task<long> Counted(long keyId)
    {
        await using var connection = await _api.Database.DataSource.OpenConnectionAsync();
        return (await connection.QuerySingleAsync<(long Buckets, long Valid, long Revoked, long InsufficientPermissions)>(
            TestSql.Get("usage_of_key"), new { key_id = keyId })).Valid;
    }

    private static async Task VerifyMany(ServiceProcess service, string token, int count)
    {
        using var client = service.Client(null);
        for (var i = 0; i < count; i++)
        {
            (await client.PostJson("/v1/keys/verify", new { token })).EnsureSuccessStatusCode();
        }
    }

    [Fact]
    public async Task A_graceful_stop_writes_every_count_and_a_sigkill_loses_at_most_the_last_interval()
    {
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id);

        var graceful = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await VerifyMany(graceful, key.Str("token"), 50);
        await graceful.DisposeAsync(); // SIGTERM, right away: well within one flush interval
        Assert.Equal(50, await Counted(key.Long("id")));

        var crashing = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await VerifyMany(crashing, key.Str("token"), 30);
        await crashing.KillAsync();
        var afterCrash = await Counted(key.Long("id"));
        Console.WriteLine($"usage: graceful stop wrote 50 of 50; SIGKILL right after 30 more: {afterCrash - 50} of them written");
        Assert.InRange(afterCrash, 50, 80);
        await crashing.DisposeAsync();
    }
}
