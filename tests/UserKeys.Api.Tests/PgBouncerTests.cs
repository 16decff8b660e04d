using System.Diagnostics;
using System.Net;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// The service through PgBouncer 1.18 in transaction mode (real pgbouncer and service processes): consecutive
/// transactions of one client land on different server connections, so nothing may rely on session state or on
/// statements prepared earlier. The listener takes a direct connection; without one the cache stays off, and says so.
/// </summary>
public sealed class PgBouncerTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();
    private PgBouncer _bouncer = null!;

    public async Task InitializeAsync()
    {
        await _api.InitializeAsync();
        // Two server connections for 16 concurrent clients: every transaction is interleaved with others' on them.
        _bouncer = await PgBouncer.StartAsync(_api.Database.ConnectionString, poolSize: 2);
    }

    public async Task DisposeAsync()
    {
        await _bouncer.DisposeAsync();
        await ((IAsyncLifetime)_api).DisposeAsync();
    }

    private Dictionary<string, string> Pooled(bool directListener)
    {
        var settings = new Dictionary<string, string>
        {
            ["UserKeys__TransactionPooler"] = "true",
            ["Logging__LogLevel__UserKeys.Api.Auth.AuthCacheListener"] = "Information",
        };
        if (directListener)
        {
            settings["ConnectionStrings__UserKeysListen"] = _api.Database.ConnectionString;
        }

        return settings;
    }

    [Fact]
    public async Task The_contract_holds_through_pgbouncer_in_transaction_mode_with_a_direct_listener()
    {
        await using var service = await ServiceProcess.StartAsync(_bouncer.ConnectionString, Pooled(directListener: true));
        using var admin = service.Client(_api.AdminToken);

        // Writes, reads and verifications from 16 clients at once, each statement run many times (a statement prepared on
        // one server connection and executed on another would fail with 26000 "prepared statement does not exist").
        var owners = await Task.WhenAll(Enumerable.Range(0, 16).Select(async i =>
        {
            using var client = service.Client(_api.AdminToken);
            var user = await (await client.PostJson("/v1/users", new { email = Http.Email($"bounced{i}") })).Expect(HttpStatusCode.Created);
            var key = await (await client.PostJson($"/v1/users/{user.Long("id")}/keys", new { name = "k", remaining = 1000 })).Expect(HttpStatusCode.Created);
            using var verifier = service.Client(null);
            for (var j = 0; j < 20; j++)
            {
                var verified = await (await verifier.PostJson("/v1/keys/verify", new { token = key.Str("token") })).Expect(HttpStatusCode.OK);
                Assert.True(verified.GetProperty("valid").GetBoolean());
                await (await client.GetAsync($"/v1/users/{user.Long("id")}")).Expect(HttpStatusCode.OK);
            }

            return (User: user, Key: key);
        }));

        // Keyset pages, a PATCH, a roll with grace and the audit trail of it.
        var seen = 0;
        string? after = null;
        do
        {
            var page = await (await admin.GetAsync(after is null ? "/v1/users?limit=5" : $"/v1/users?limit=5&after={Uri.EscapeDataString(after)}")).Expect(HttpStatusCode.OK);
            seen += page.GetProperty("items").GetArrayLength();
            after = page.IsNull("next_cursor") ? null : page.Str("next_cursor");
        }
        while (after is not null);
        Assert.True(seen >= 17, $"paged {seen} users");

        var (owner, key) = owners[0];
        var keyPath = $"/v1/users/{owner.Long("id")}/keys/{key.Long("id")}";
        await (await admin.PatchJson(keyPath, new { name = "renamed" })).Expect(HttpStatusCode.OK);
        var rolled = await (await admin.PostJson($"{keyPath}/roll", new { grace_seconds = 60 })).Expect(HttpStatusCode.Created);
        var events = await (await admin.GetAsync($"/v1/audit?key_id={key.Long("id")}")).Expect(HttpStatusCode.OK);
        Assert.Contains(events.GetProperty("items").EnumerateArray(), item => item.Str("action") == "key.updated");

        // The cache is on (the direct listener hears its heartbeat), and a revoke is still refused within a second.
        var on = await Poll.UntilAsync(() => Task.FromResult(service.Output), output => output.Contains("the auth cache is on", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Contains("the auth cache is on", on.Value, StringComparison.Ordinal);
        using var verify = service.Client(null);
        var token = rolled.Str("token");
        Assert.True((await (await verify.PostJson("/v1/keys/verify", new { token })).Json()).GetProperty("valid").GetBoolean());
        await (await admin.PostAsync($"/v1/users/{owner.Long("id")}/keys/{rolled.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        var clock = Stopwatch.StartNew();
        var refused = await Poll.UntilAsync(async () => (await (await verify.PostJson("/v1/keys/verify", new { token })).Json()).Str("reason") == "revoked",
            done => done, TimeSpan.FromSeconds(5));
        Assert.True(refused.Value && clock.Elapsed < TimeSpan.FromSeconds(1), $"revoke refused after {clock.ElapsedMilliseconds} ms");

        // It all went through PgBouncer: it logged the service's logins to this database.
        Assert.Contains($"login attempt: db={_api.Database.Name} user=", _bouncer.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_direct_listener_the_auth_cache_stays_off_says_so_and_a_revoke_is_refused_at_once()
    {
        await using var service = await ServiceProcess.StartAsync(_bouncer.ConnectionString, Pooled(directListener: false));
        const string Said = "The auth cache is off: UserKeys:TransactionPooler is set and ConnectionStrings:UserKeysListen is not";
        var output = await Poll.UntilAsync(() => Task.FromResult(service.Output), text => text.Contains(Said, StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Contains(Said, output.Value, StringComparison.Ordinal);

        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id);
        var token = key.Str("token");
        using var admin = service.Client(_api.AdminToken);
        using var verify = service.Client(null);
        Assert.True((await (await verify.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
        await (await admin.PostAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        Assert.Equal("revoked", (await (await verify.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).Str("reason"));
    }

    [Fact]
    public async Task Prepared_statements_asked_for_behind_a_transaction_pooler_stop_the_start_with_a_message()
    {
        using var process = CliProcess.Start(_bouncer.ConnectionString + ";Max Auto Prepare=20", Pooled(directListener: true), "--urls", "http://127.0.0.1:0");
        var result = await CliProcess.WaitAsync(process);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("UserKeys:TransactionPooler is set, but the connection string asks for prepared statements", result.StandardError, StringComparison.Ordinal);
    }
}
