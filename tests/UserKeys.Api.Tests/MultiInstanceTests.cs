using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// The contract with requests spread over two real service processes on one database, as a deployment runs
/// several stateless instances: what one instance makes (cursors, keys, revocations) holds on the other, and the
/// background work of both (audit purge, usage flushes, credit leases) stays correct with both running it.
/// </summary>
public sealed class MultiInstanceTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();
    private ServiceCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        await _api.InitializeAsync();
        // The audit purge runs every second on each instance, so that both race for it during the test.
        _cluster = await ServiceCluster.StartAsync(2, _api.Database.ServiceConnectionString, new Dictionary<string, string>
        {
            ["UserKeys__AuditPurgeIntervalSeconds"] = "1",
        });
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await ((IAsyncLifetime)_api).DisposeAsync();
    }

    private async Task<T> Sql<T>(string name, object parameters)
    {
        await using var connection = await _api.Database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<T>(TestSql.Get(name), parameters);
    }

    [Fact]
    public async Task Users_made_on_either_instance_page_through_with_cursors_alternating_between_them()
    {
        var admins = _cluster.Clients(_api.AdminToken);
        var made = new HashSet<long>();
        for (var i = 0; i < 30; i++)
        {
            var user = await (await admins[i % 2].PostJson("/v1/users", new { email = Http.Email("spread") })).Expect(HttpStatusCode.Created);
            made.Add(user.Long("id"));
        }

        // Page 1 from instance 0, page 2 from instance 1, ...: each cursor was signed by the other instance.
        var seen = new List<long>();
        string? after = null;
        for (var page = 0; page < 100; page++)
        {
            var query = after is null ? "/v1/users?limit=7" : $"/v1/users?limit=7&after={Uri.EscapeDataString(after)}";
            var body = await (await admins[page % 2].GetAsync(query)).Expect(HttpStatusCode.OK);
            seen.AddRange(body.GetProperty("items").EnumerateArray().Select(item => item.Long("id")));
            if (body.IsNull("next_cursor"))
            {
                break;
            }

            after = body.Str("next_cursor");
        }

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.True(made.IsSubsetOf(seen), "a user made on one instance was missing from pages served by both");
        Assert.Equal(seen.OrderDescending(), seen); // newest first, as one instance would page
    }

    [Fact]
    public async Task A_key_revoked_on_one_instance_is_refused_by_the_other_within_a_second()
    {
        using var admin = _cluster.Instances[0].Client(_api.AdminToken);
        var owner = await _api.CreateUserWithKey();
        var key = await _api.IssueKey(owner.Id);
        var token = key.Str("token");
        using var other = _cluster.Instances[1].Client(token);
        using var otherVerify = _cluster.Instances[1].Client(null);

        // Instance 1 has the key cached (served from memory) before the revoke.
        for (var i = 0; i < 3; i++)
        {
            await (await other.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
            Assert.True((await (await otherVerify.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
        }

        await (await admin.PostAsync($"/v1/users/{owner.Id}/keys/{key.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        var revokedAt = Stopwatch.StartNew();
        var refused = await Poll.UntilAsync(
            async () =>
            {
                var me = (await other.GetAsync("/v1/users/me")).StatusCode;
                var verify = await (await otherVerify.PostJson("/v1/keys/verify", new { token })).Json();
                return me == HttpStatusCode.Unauthorized && verify.Str("reason") == "revoked";
            },
            done => done,
            TimeSpan.FromSeconds(5));
        var took = revokedAt.Elapsed;
        Console.WriteLine($"multi-instance: a revoke on instance 0 was refused by instance 1 after {took.TotalMilliseconds:0} ms");
        Assert.True(refused.Value, "instance 1 still accepted the revoked key after 5 s");
        Assert.True(took < TimeSpan.FromSeconds(1), $"instance 1 refused the revoked key only after {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Background_work_runs_correctly_with_both_instances_up()
    {
        var owner = await _api.CreateUserWithKey();

        // Audit purge, the schema owner's (migration 0020): the instances, as the service's role, may not; two scheduled
        // purges at once as the owner: the old event goes, the recent one stays, neither fails (one may find the other busy).
        var old = await Sql<long>("insert_aged_audit_event", new { days_ago = 400, user_id = owner.Id });
        var recent = await Sql<long>("insert_aged_audit_event", new { days_ago = 30, user_id = owner.Id });
        var purges = await Task.WhenAll(
            CliProcess.RunAsync(_api.Database.ConnectionString, "audit-purge"), CliProcess.RunAsync(_api.Database.ConnectionString, "audit-purge"));
        Assert.All(purges, purge => Assert.Contains(purge.ExitCode, new[] { 0, 4 }));
        Assert.Contains(purges, purge => purge.ExitCode == 0);
        Assert.False(await Sql<bool>("audit_event_exists", new { id = old }));
        Assert.True(await Sql<bool>("audit_event_exists", new { id = recent }));

        // Usage flushes and credit leases: verifications spread over both are counted once each, and the budget holds.
        var key = await _api.IssueKey(owner.Id, new { remaining = 100 });
        var token = key.Str("token");
        var verifiers = _cluster.Clients(null);
        int valid = 0, exceeded = 0;
        for (var i = 0; i < 150; i++)
        {
            var body = await (await verifiers[i % 2].PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
            if (body.GetProperty("valid").GetBoolean())
            {
                valid++;
            }
            else if (body.Str("reason") == "usage_exceeded")
            {
                exceeded++;
            }
        }

        Assert.Equal((100, 50), (valid, exceeded));
        var counted = await Poll.UntilAsync(
            async () => (await Sql<(long Buckets, long Valid, long Revoked, long InsufficientPermissions)>("usage_of_key", new { key_id = key.Long("id") })).Valid,
            total => total >= 100,
            TimeSpan.FromSeconds(15));
        Assert.Equal(100, counted.Value);

        foreach (var instance in _cluster.Instances)
        {
            Assert.False(instance.HasExited);
            Assert.DoesNotContain("fail:", instance.Output, StringComparison.OrdinalIgnoreCase);
        }
    }
}

/// <summary>N real service processes on one database (<see cref="ServiceProcess"/>), stopped together.</summary>
internal sealed class ServiceCluster : IAsyncDisposable
{
    private readonly List<HttpClient> _clients = [];

    private ServiceCluster(IReadOnlyList<ServiceProcess> instances) => Instances = instances;

    public IReadOnlyList<ServiceProcess> Instances { get; }

    public static async Task<ServiceCluster> StartAsync(int count, string connectionString, IReadOnlyDictionary<string, string>? environment = null)
    {
        var starting = Enumerable.Range(0, count).Select(_ => ServiceProcess.StartAsync(connectionString, environment)).ToList();
        try
        {
            return new ServiceCluster(await Task.WhenAll(starting));
        }
        catch
        {
            foreach (var task in starting.Where(task => task.IsCompletedSuccessfully))
            {
                await (await task).DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>One client per instance, in instance order, disposed with the cluster.</summary>
    public IReadOnlyList<HttpClient> Clients(string? token)
    {
        var clients = Instances.Select(instance => instance.Client(token)).ToList();
        _clients.AddRange(clients);
        return clients;
    }

    public async ValueTask DisposeAsync()
    {
        _clients.ForEach(client => client.Dispose());
        await Task.WhenAll(Instances.Select(instance => instance.DisposeAsync().AsTask()));
    }
}
