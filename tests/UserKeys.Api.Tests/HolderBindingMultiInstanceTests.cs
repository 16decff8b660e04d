using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>
/// The budgets a holder cannot shed (a root key's credits shared with the keys derived from it, a user's credits shared
/// by all its keys), under concurrent verifications spread over two real service processes on one database; and a budget
/// an admin lowers binds the instance that holds units leased before.
/// </summary>
public sealed class HolderBindingMultiInstanceTests : IAsyncLifetime
{
    private readonly ApiFactory _api = new();
    private ServiceCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        await _api.InitializeAsync();
        _cluster = await ServiceCluster.StartAsync(2, _api.Database.ServiceConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await ((IAsyncLifetime)_api).DisposeAsync();
    }

    /// <summary>
    /// <paramref name="requests"/> verifications at once, request i on instance i % 2 with token i % tokens: the valid
    /// answers, the usage_exceeded ones and any other answer.
    /// </summary>
    private async Task<(int Valid, int Exceeded, List<string> Other)> VerifyAtOnce(IReadOnlyList<string> tokens, int requests)
    {
        var verifiers = _cluster.Clients(null);
        var answers = await Task.WhenAll(Enumerable.Range(0, requests).Select(async i =>
        {
            var response = await verifiers[i % verifiers.Count].PostJson("/v1/keys/verify", new { token = tokens[i % tokens.Count] });
            return response.StatusCode == HttpStatusCode.OK ? await response.Json() : default;
        }));

        int valid = 0, exceeded = 0;
        var other = new List<string>();
        foreach (var answer in answers)
        {
            if (answer.ValueKind == JsonValueKind.Object && answer.GetProperty("valid").GetBoolean())
            {
                valid++;
            }
            else if (answer.ValueKind == JsonValueKind.Object && answer.Str("reason") == "usage_exceeded")
            {
                exceeded++;
            }
            else
            {
                other.Add(answer.ValueKind == JsonValueKind.Object ? answer.GetRawText() : "a status other than 200");
            }
        }

        return (valid, exceeded, other);
    }

    [Fact]
    public async Task Across_two_processes_a_root_key_and_the_keys_derived_from_it_grant_exactly_its_credits()
    {
        var member = await _api.CreateUserWithKey();
        var k = await _api.IssueKey(member.Id, new
        {
            remaining = 10, rate_limits = new[] { new { name = "day", limit = 1000, duration_ms = 86_400_000 } },
        });
        var holders = _cluster.Clients(k.Str("token"));
        var tokens = new List<string> { k.Str("token") };
        for (var i = 0; i < 2; i++)
        {
            // One derived key made on each instance.
            var derived = await (await holders[i].PostJson($"/v1/users/{member.Id}/keys", new { name = $"derived-{i}" })).Expect(HttpStatusCode.Created);
            _api.IssuedTokens.Add(derived.Str("token"));
            tokens.Add(derived.Str("token"));
        }

        var (valid, exceeded, other) = await VerifyAtOnce(tokens, 60);

        Console.WriteLine($"derived keys across two processes: {valid} valid, {exceeded} usage_exceeded, {other.Count} other of 60");
        Assert.Empty(other);
        Assert.Equal(10, valid);
        Assert.Equal(50, exceeded);
    }

    [Fact]
    public async Task Across_two_processes_a_users_keys_grant_exactly_the_users_credits()
    {
        var member = await _api.CreateUserWithKey();
        using (var admin = _cluster.Instances[0].Client(_api.AdminToken))
        {
            var user = await (await admin.PatchJson($"/v1/users/{member.Id}", new { remaining = 7 })).Expect(HttpStatusCode.OK);
            Assert.Equal(7, user.Long("remaining"));
        }

        var tokens = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            tokens.Add((await _api.IssueKey(member.Id, new { name = $"unlimited-{i}" })).Str("token"));
        }

        var (valid, exceeded, other) = await VerifyAtOnce(tokens, 60);

        Console.WriteLine($"user credits across two processes: {valid} valid, {exceeded} usage_exceeded, {other.Count} other of 60");
        Assert.Empty(other);
        Assert.Equal(7, valid);
        Assert.Equal(53, exceeded);
    }

    [Fact]
    public async Task A_lowered_budget_or_rate_limit_binds_an_instance_that_holds_units_leased_before()
    {
        var member = await _api.CreateUserWithKey();
        var credits = await _api.IssueKey(member.Id, new { remaining = 1000 });
        var windowed = await _api.IssueKey(member.Id, new { rate_limits = new[] { new { name = "day", limit = 1000, duration_ms = 86_400_000 } } });
        var probe = await _api.IssueKey(member.Id);
        var verifiers = _cluster.Clients(null);
        async Task<bool> ValidOn(int instance, JsonElement key) =>
            (await (await verifiers[instance].PostJson("/v1/keys/verify", new { token = key.Str("token") })).Expect(HttpStatusCode.OK))
                .GetProperty("valid").GetBoolean();

        // Instance 0 leases more of each than it uses.
        Assert.True(await ValidOn(0, credits));
        Assert.True(await ValidOn(0, windowed));
        Assert.True(await ValidOn(0, probe));

        // Lowered through instance 1; then a revoke, whose notification instance 0 hears after theirs (commit order).
        var admin = _cluster.Clients(_api.AdminToken)[1];
        await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{credits.Long("id")}", new { remaining = 3 })).Expect(HttpStatusCode.OK);
        await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{windowed.Long("id")}",
            new { rate_limits = new[] { new { name = "day", limit = 2, duration_ms = 86_400_000 } } })).Expect(HttpStatusCode.OK);
        await (await admin.PostAsync($"/v1/users/{member.Id}/keys/{probe.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        var (heard, _) = await Testing.Poll.UntilAsync(() => ValidOn(0, probe), valid => !valid, TimeSpan.FromSeconds(3));
        Assert.False(heard);

        var grantedCredits = 0;
        var grantedWindow = 0;
        for (var i = 0; i < 10; i++)
        {
            grantedCredits += await ValidOn(0, credits) ? 1 : 0;
            grantedWindow += await ValidOn(0, windowed) ? 1 : 0;
        }

        Assert.Equal(3, grantedCredits);
        Assert.Equal(0, grantedWindow); // instance 0's lease used more than the new limit of the window already
    }
}
