using System.Net;
using System.Text.Json;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>Credits (remaining, refill, cost) through one instance: exact counts, refusals that take nothing, admins only.</summary>
public sealed class CreditTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private async Task<JsonElement> Verify(string token, int? cost = null)
    {
        using var anonymous = api.Client();
        object body = cost is null ? new { token } : new { token, cost };
        return await (await anonymous.PostJson("/v1/keys/verify", body)).Expect(HttpStatusCode.OK);
    }

    private async Task<long?> DatabaseRemaining(long keyId)
    {
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<long?>(TestSql.Get("key_remaining"), new { id = keyId });
    }

    /// <summary>Polls until the database holds <paramref name="expected"/> (idle leases go back within a second or two).</summary>
    private async Task<long?> DatabaseRemainingSettles(long keyId, long expected) =>
        (await Poll.UntilAsync(() => DatabaseRemaining(keyId), remaining => remaining == expected, TimeSpan.FromSeconds(10))).Value;

    [Fact]
    public async Task Credits_count_down_exactly_and_a_refused_verification_takes_nothing()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { remaining = 5 });
        Assert.Equal(5, key.Long("remaining"));

        var seen = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            var answer = await Verify(key.Str("token"));
            Assert.True(answer.GetProperty("valid").GetBoolean());
            seen.Add(answer.Long("remaining"));
            Assert.Empty(answer.GetProperty("rate_limits").EnumerateArray());
        }

        Assert.Equal([4, 3, 2, 1, 0], seen);
        var refused = await Verify(key.Str("token"));
        Assert.Equal("usage_exceeded", refused.Str("reason"));
        Assert.False(refused.TryGetProperty("remaining", out _));
        Assert.Equal(0, await DatabaseRemaining(key.Long("id")));

        var unlimited = await Verify(owner.Token);
        Assert.Equal(JsonValueKind.Null, unlimited.GetProperty("remaining").ValueKind);
    }

    [Fact]
    public async Task Cost_takes_that_many_zero_takes_none_and_too_much_takes_nothing()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { remaining = 10 });
        var token = key.Str("token");

        Assert.Equal(7, (await Verify(token, 3)).Long("remaining"));
        Assert.Equal(7, (await Verify(token, 0)).Long("remaining"));
        Assert.Equal("usage_exceeded", (await Verify(token, 8)).Str("reason"));
        Assert.Equal(0, (await Verify(token, 7)).Long("remaining"));
        Assert.True((await Verify(token, 0)).GetProperty("valid").GetBoolean()); // 0 checks, even at 0
        Assert.Equal("usage_exceeded", (await Verify(token, 1)).Str("reason"));

        using var anonymous = api.Client();
        foreach (var cost in new[] { "-1", "1001", "\"1\"", "1.5" })
        {
            await (await anonymous.PostRaw("/v1/keys/verify", $$"""{"token":"{{token}}","cost":{{cost}}}""")).Expect(HttpStatusCode.BadRequest);
        }
    }

    [Fact]
    public async Task Only_an_admin_sets_remaining_or_refill_and_bad_values_are_named()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        await (await client.PostJson($"/v1/users/{member.Id}/keys", new { remaining = 10 })).Expect(HttpStatusCode.Forbidden);
        await (await client.PostRaw($"/v1/users/{member.Id}/keys", """{"remaining":null}""")).Expect(HttpStatusCode.Forbidden);
        await (await client.PostJson($"/v1/users/{member.Id}/keys", new { refill = new { interval = "daily", amount = 5 } })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchJson($"/v1/users/{member.Id}/keys/{member.KeyId}", new { remaining = 10 })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchRaw($"/v1/users/{member.Id}/keys/{member.KeyId}", """{"refill":null}""")).Expect(HttpStatusCode.Forbidden);

        var bad = await (await admin.PostRaw($"/v1/users/{member.Id}/keys",
            """{"remaining":-1,"refill":{"interval":"weekly","amount":10000000000000000}}""")).Expect(HttpStatusCode.BadRequest);
        Assert.Equal(["refill", "remaining"], bad.GetProperty("errors").EnumerateObject().Select(field => field.Name).Order(StringComparer.Ordinal));
        Assert.Equal(2, bad.GetProperty("errors").GetProperty("refill").GetArrayLength());
        var shape = await (await admin.PostRaw($"/v1/users/{member.Id}/keys", """{"refill":{"interval":"daily"}}""")).Expect(HttpStatusCode.BadRequest);
        Assert.Contains("interval", shape.GetProperty("errors").GetProperty("refill")[0].GetString());

        // A refill without remaining starts at its amount; PATCH sets and clears.
        var refilled = await api.IssueKey(member.Id, new { refill = new { interval = "monthly", amount = 50 } });
        Assert.Equal(50, refilled.Long("remaining"));
        Assert.Equal("monthly", refilled.GetProperty("refill").Str("interval"));
        var firstOfMonth = new DateTimeOffset(DateTime.UtcNow.Year, DateTime.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(firstOfMonth.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff+00:00"), refilled.Str("refilled_at"));
        var path = $"/v1/users/{member.Id}/keys/{refilled.Long("id")}";
        await (await admin.PatchRaw(path, """{"remaining":null}""")).Expect(HttpStatusCode.BadRequest);
        var topped = await (await admin.PatchJson(path, new { remaining = 7 })).Expect(HttpStatusCode.OK);
        Assert.Equal(7, topped.Long("remaining"));
        var cleared = await (await admin.PatchRaw(path, """{"remaining":null,"refill":null}""")).Expect(HttpStatusCode.OK);
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("remaining").ValueKind);
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("refill").ValueKind);
        Assert.True((await Verify(refilled.Str("token"))).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task A_refill_happens_once_at_the_period_boundary_lazily_on_first_use()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { remaining = 3, refill = new { interval = "daily", amount = 100 } });
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("set_key_refilled_yesterday"), new { id = key.Long("id") });
        }

        // Twenty at once right after the boundary: one refill, twenty units.
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Verify(key.Str("token"))));

        Assert.All(answers, answer => Assert.True(answer.GetProperty("valid").GetBoolean()));
        Assert.Equal(80, await DatabaseRemainingSettles(key.Long("id"), 80));
        using var admin = api.Admin();
        var shown = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
        Assert.Equal(DateTime.UtcNow.Date.ToString("yyyy-MM-ddT00:00:00.000000+00:00"), shown.Str("refilled_at"));
        Assert.Equal(80, shown.Long("remaining"));
    }

    [Fact]
    public async Task A_rolls_old_and_new_key_draw_on_one_budget_during_its_grace()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var old = await api.IssueKey(owner.Id, new { remaining = 10 });
        Assert.Equal(9, (await Verify(old.Str("token"))).Long("remaining"));
        await DatabaseRemainingSettles(old.Long("id"), 9);

        var rolled = await (await admin.PostJson($"/v1/users/{owner.Id}/keys/{old.Long("id")}/roll", new { grace_seconds = 60 })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));

        Assert.Equal(9, rolled.Long("remaining"));
        Assert.True((await Verify(old.Str("token"), 4)).GetProperty("valid").GetBoolean());
        Assert.True((await Verify(rolled.Str("token"), 5)).GetProperty("valid").GetBoolean());
        Assert.Equal("usage_exceeded", (await Verify(old.Str("token"))).Str("reason"));
        Assert.Equal("usage_exceeded", (await Verify(rolled.Str("token"))).Str("reason"));
        // The budget stays with the old key; the new one has none of its own.
        Assert.Equal(0, await DatabaseRemainingSettles(old.Long("id"), 0));
        Assert.Null(await DatabaseRemaining(rolled.Long("id")));
    }
}

/// <summary>
/// Credits across real service processes on one database: exactly the budget is granted under concurrency, and a
/// process killed with SIGKILL mid-load never causes an over-grant.
/// </summary>
public sealed class CreditProcessTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();

    public Task InitializeAsync() => _api.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)_api).DisposeAsync();

    private static async Task<(int Valid, int Exceeded, int Other)> Load(
        IReadOnlyList<ServiceProcess> instances, string token, int requests, int concurrency, Action<int>? validSoFar = null)
    {
        var clients = instances.Select(instance => instance.Client(null)).ToList();
        var next = -1;
        int valid = 0, exceeded = 0, other = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var client = clients[i % clients.Count];
                try
                {
                    var response = await client.PostJson("/v1/keys/verify", new { token });
                    var body = response.StatusCode == HttpStatusCode.OK ? await response.Json() : default;
                    if (body.ValueKind == JsonValueKind.Object && body.GetProperty("valid").GetBoolean())
                    {
                        var count = Interlocked.Increment(ref valid);
                        validSoFar?.Invoke(count);
                    }
                    else if (body.ValueKind == JsonValueKind.Object && body.Str("reason") == "usage_exceeded")
                    {
                        Interlocked.Increment(ref exceeded);
                    }
                    else
                    {
                        Interlocked.Increment(ref other);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref other); // an instance that was killed
                }
            }
        }));
        clients.ForEach(client => client.Dispose());
        return (valid, exceeded, other);
    }

    private async Task<long?> DatabaseRemaining(long keyId)
    {
        await using var connection = await _api.Database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<long?>(TestSql.Get("key_remaining"), new { id = keyId });
    }

    [Fact]
    public async Task Two_processes_grant_exactly_1000_of_3000_concurrent_verifications_and_the_key_shows_0()
    {
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id, new { remaining = 1000 });
        await using var one = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await using var two = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);

        var (valid, exceeded, other) = await Load([one, two], key.Str("token"), 3000, 64);

        Console.WriteLine($"credits across two processes: {valid} valid, {exceeded} usage_exceeded, {other} other of 3000");
        Assert.Equal(0, other);
        Assert.Equal(1000, valid);
        Assert.Equal(2000, exceeded);
        Assert.Equal(0, await DatabaseRemaining(key.Long("id")));
        using var admin = _api.Admin();
        var shown = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
        Assert.Equal(0, shown.Long("remaining"));
    }

    [Fact]
    public async Task Two_processes_refill_once_at_a_period_boundary_also_when_neither_ran_at_it()
    {
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id, new { remaining = 3, refill = new { interval = "daily", amount = 500 } });
        await using (var connection = await _api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("set_key_refilled_yesterday"), new { id = key.Long("id") });
        }

        await using var one = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await using var two = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        var (valid, exceeded, other) = await Load([one, two], key.Str("token"), 100, 32);

        // Both processes stop gracefully (they hand their unused credits back); one refill means 500 - 100 left.
        await one.DisposeAsync();
        await two.DisposeAsync();
        Console.WriteLine($"refill across two processes: {valid} valid of 100; database remaining {await DatabaseRemaining(key.Long("id"))} of 500");
        Assert.Equal((100, 0, 0), (valid, exceeded, other));
        Assert.Equal(400, await DatabaseRemaining(key.Long("id")));
    }

    [Fact]
    public async Task A_process_killed_mid_load_never_causes_an_over_grant_and_loses_at_most_its_leases()
    {
        const int Budget = 5000;
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id, new { remaining = Budget });
        await using var survivor = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);
        await using var victim = await ServiceProcess.StartAsync(_api.Database.ServiceConnectionString);

        var midLoad = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Load([survivor, victim], key.Str("token"), 3000, 32, valid => { if (valid >= 500) midLoad.TrySetResult(); });
        await midLoad.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await victim.KillAsync();
        var (validBefore, exceededBefore, _) = await first;
        var (validAfter, exceededAfter, otherAfter) = await Load([survivor], key.Str("token"), 6000, 32);

        var granted = validBefore + validAfter;
        var left = await DatabaseRemaining(key.Long("id"));
        Console.WriteLine($"credits with a SIGKILL mid-load: {granted} granted of {Budget} ({validBefore} before the kill finished, {validAfter} after); " +
            $"under-grant {Budget - granted}; database remaining {left}");
        Assert.Equal(0, otherAfter);
        Assert.True(granted <= Budget, $"over-grant: {granted} > {Budget}");
        Assert.True(exceededAfter > 0, "the load did not exhaust the budget");
        // What the killed process held: at most one lease (64 units: CreditLeases.PreferredLease) and the answers it
        // granted but never delivered (at most one per connection in flight).
        Assert.InRange(Budget - granted, 0, 64 + 32);
    }
}
