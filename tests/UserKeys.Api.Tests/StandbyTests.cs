using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using UserKeys.Api.Commands;
using UserKeys.Data;
using UserKeys.Data.Migrations;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// A primary and a streaming standby (real servers from the machine's binaries) and the service given both hosts with
/// <c>UserKeys__ReadFromStandbys=true</c>: stale reads go to the standby, and revocation still wins while the standby's
/// replay is paused (<c>pg_wal_replay_pause()</c>), since every credential check reads the primary.
/// </summary>
public sealed class StandbyTests : IAsyncLifetime
{
    private PostgresPair _pair = null!;
    private string _adminToken = "";

    public async Task InitializeAsync()
    {
        _pair = await PostgresPair.StartAsync(synchronous: false);
        var upgrade = await new DatabaseUpgrader(_pair.PrimaryConnectionString, NullLogger.Instance).UpgradeAsync(CancellationToken.None);
        Assert.True(upgrade.Successful, upgrade.Error);
        await using var primary = NpgsqlDataSource.Create(_pair.PrimaryConnectionString);
        _adminToken = await BootstrapAdminCommand.IssueAsync(new UnitOfWorkFactory(primary), Http.Email("admin"), "Admin", NullLogger.Instance, CancellationToken.None)
            ?? throw new InvalidOperationException("bootstrap issued no token");
    }

    public async Task DisposeAsync() => await _pair.DisposeAsync();

    private static async Task<HttpStatusCode> Status(HttpClient client, string path) => (await client.GetAsync(path)).StatusCode;

    [Fact]
    public async Task Migrate_and_bootstrap_given_the_standby_first_run_on_the_primary()
    {
        var standbyFirst = new NpgsqlConnectionStringBuilder(_pair.MultiHostConnectionString)
        {
            Host = $"127.0.0.1:{_pair.StandbyPort},127.0.0.1:{_pair.PrimaryPort}",
        }.ConnectionString;

        var status = await CliProcess.RunAsync(standbyFirst, "migrate");
        Assert.True(status.ExitCode == 0, status.StandardError);
        var bootstrap = await CliProcess.RunAsync(standbyFirst, "bootstrap-admin", "--email", Http.Email("standby-first"));
        Assert.True(bootstrap.ExitCode == 0, bootstrap.StandardError);
        Assert.StartsWith("uk_", bootstrap.StandardOutput.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reads_come_from_a_paused_standby_but_a_key_revoked_on_the_primary_is_refused_at_once_everywhere()
    {
        await using var reading = await ServiceProcess.StartAsync(_pair.MultiHostConnectionString, new Dictionary<string, string>
        {
            ["UserKeys__ReadFromStandbys"] = "true",
        });
        // A second instance without the cache and without standby reads: every check and read on the primary.
        await using var primaryOnly = await ServiceProcess.StartAsync(_pair.MultiHostConnectionString, new Dictionary<string, string>
        {
            ["UserKeys__AuthCacheSeconds"] = "0",
        });
        using var admin = reading.Client(_adminToken);
        using var primaryAdmin = primaryOnly.Client(_adminToken);
        var owner = await (await admin.PostJson("/v1/users", new { email = Http.Email("standby") })).Expect(HttpStatusCode.Created);
        var ownerId = owner.Long("id");
        var key = await (await admin.PostJson($"/v1/users/{ownerId}/keys", new { name = "replicated" })).Expect(HttpStatusCode.Created);
        var token = key.Str("token");
        var keysPath = $"/v1/users/{ownerId}/keys";
        var replicated = await Poll.UntilAsync(() => Status(admin, keysPath), status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, replicated.Value);
        using var verifyReading = reading.Client(null);
        using var verifyPrimary = primaryOnly.Client(null);
        using var asOwner = reading.Client(token);
        Assert.True((await (await verifyReading.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).GetProperty("valid").GetBoolean());
        await (await asOwner.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        await _pair.PauseReplayAsync();
        try
        {
            await (await primaryAdmin.PostAsync($"{keysPath}/{key.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);

            // Revocation wins at once, on both instances, although the standby still has the key unrevoked.
            Assert.Equal("revoked", (await (await verifyPrimary.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK)).Str("reason"));
            var refused = await Poll.UntilAsync(async () => (await (await verifyReading.PostJson("/v1/keys/verify", new { token })).Json()).Str("reason"),
                reason => reason == "revoked", TimeSpan.FromSeconds(1));
            Assert.Equal("revoked", refused.Value);
            await (await asOwner.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);

            // The listing is a stale read: from the paused standby it still shows the key unrevoked; from the primary, revoked.
            var stale = (await (await admin.GetAsync(keysPath)).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
            Assert.True(stale.IsNull("revoked_at"), "the reading instance did not read the listing from the standby");
            var current = (await (await primaryAdmin.GetAsync(keysPath)).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
            Assert.False(current.IsNull("revoked_at"));

            // A user made now is not on the standby yet: a stale read does not find it; its writes and checks do.
            var fresh = await (await admin.PostJson("/v1/users", new { email = Http.Email("fresh") })).Expect(HttpStatusCode.Created);
            Assert.Equal(HttpStatusCode.NotFound, await Status(admin, $"/v1/users/{fresh.Long("id")}"));
            await (await admin.PostJson($"/v1/users/{fresh.Long("id")}/keys", new { name = "on the primary" })).Expect(HttpStatusCode.Created);
        }
        finally
        {
            await _pair.ResumeReplayAsync();
        }

        var caughtUp = await Poll.UntilAsync(async () => (await (await admin.GetAsync(keysPath)).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == key.Long("id")).IsNull("revoked_at"), stillStale => !stillStale, TimeSpan.FromSeconds(10));
        Assert.False(caughtUp.Value, "the standby did not catch up after its replay resumed");
        Assert.DoesNotContain("fail:", reading.Output, StringComparison.Ordinal);
    }
}
