using System.Net;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// What the database guarantees holds against its own roles (migration 0020): each test connects as the service's role
/// (or as a role with no grants) and tries what a hostile session could, then checks the outcome.
/// </summary>
public sealed class DatabaseGuaranteeTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    /// <summary>The consumption columns: written by leases and recorded uses, neither audited nor announced.</summary>
    private static readonly string[] KeyConsumption = ["credit_epoch", "last_used_at", "leased", "refilled_at"];

    private static readonly string[] UserConsumption = ["credit_epoch", "leased", "refilled_at"];

    private NpgsqlConnection AsService() => new(new NpgsqlConnectionStringBuilder(api.Database.ServiceConnectionString) { Pooling = false }.ConnectionString);

    private async Task<T> AsOwner<T>(string name, object? parameters = null)
    {
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<T>(TestSql.Get(name), parameters);
    }

    [Fact]
    public async Task A_session_setting_hides_no_change_from_the_audit_log_or_the_caches()
    {
        var member = await api.CreateUserWithKey();
        var victim = await api.IssueKey(member.Id);
        using var asMember = api.Client(member.Token);
        using var asVictim = api.Client(victim.Str("token"));
        await (await asMember.GetAsync("/v1/users")).Expect(HttpStatusCode.Forbidden); // cached: a member's key
        await (await asVictim.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        await using (var service = AsService())
        {
            await service.ExecuteAsync(TestSql.Get("promote_with_lease_marker"), new { id = member.Id });
            await service.ExecuteAsync(TestSql.Get("revoke_with_lease_marker"), new { id = victim.Long("id") });
        }

        Assert.Equal(1, await AsOwner<long>("count_audit_events_of_user", new { user_id = member.Id, action = "user.updated" }));
        Assert.Equal(2, await AsOwner<long>("count_audit_events_of_key", new { id = victim.Long("id") })); // created, then revoked
        var (promoted, _) = await Poll.UntilAsync(async () => (await asMember.GetAsync("/v1/users")).StatusCode, status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, promoted);
        var (refused, _) = await Poll.UntilAsync(async () => (await asVictim.GetAsync("/v1/users/me")).StatusCode, status => status == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.Unauthorized, refused);
    }

    [Theory]
    [InlineData("api_keys", "api_keys_audit")]
    [InlineData("api_keys", "api_keys_notify_update")]
    [InlineData("users", "users_audit")]
    [InlineData("users", "users_notify_update")]
    public async Task Every_column_but_the_consumption_columns_is_audited_and_announced(string table, string trigger)
    {
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var columns = (await connection.QueryAsync<string>(TestSql.Get("table_columns"), new { table })).ToList();
        var watched = (await connection.QueryAsync<string>(TestSql.Get("trigger_columns"), new { trigger })).ToList();

        // A column added later must be named by the triggers (or be a consumption column on purpose).
        Assert.Equal(columns.Except(table == "users" ? UserConsumption : KeyConsumption).Order(), watched.Order());
    }

    [Fact]
    public async Task Only_the_owner_may_purge_the_audit_trail_and_never_younger_than_the_floor()
    {
        var owner = await api.CreateUserWithKey();
        var old = await AsOwner<long>("insert_aged_audit_event", new { days_ago = 400, user_id = owner.Id });
        var young = await AsOwner<long>("insert_aged_audit_event", new { days_ago = 10, user_id = owner.Id });

        await using (var service = AsService())
        {
            var denied = await Assert.ThrowsAsync<PostgresException>(() =>
                service.QuerySingleAsync<int>(TestSql.Get("purge_audit_now"), new { cutoff = DateTime.UtcNow.AddDays(1), batch_size = 1000 }));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        }

        Assert.True(await AsOwner<bool>("audit_event_exists", new { id = old }));
        // The owner's own cutoff of tomorrow still keeps the floor (30 days).
        await AsOwner<int>("purge_audit_now", new { cutoff = DateTime.UtcNow.AddDays(1), batch_size = 10000 });
        Assert.False(await AsOwner<bool>("audit_event_exists", new { id = old }));
        Assert.True(await AsOwner<bool>("audit_event_exists", new { id = young }));
    }

    [Fact]
    public async Task A_temporary_table_captures_no_audit_event_and_does_not_blind_the_last_admin_guard()
    {
        var member = await api.CreateUserWithKey();
        await using var service = AsService();
        await service.OpenAsync();
        await service.ExecuteAsync(TestSql.Get("create_temp_audit_events"));
        await service.ExecuteAsync(TestSql.Get("rename_user_directly"), new { id = member.Id, name = "Renamed in SQL" });

        Assert.Equal(0, await service.QuerySingleAsync<long>(TestSql.Get("count_temp_audit_events")));
        Assert.Equal(1, await AsOwner<long>("count_audit_events_of_user", new { user_id = member.Id, action = "user.updated" }));

        await service.ExecuteAsync(TestSql.Get("create_temp_users_with_an_admin"));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => service.ExecuteAsync(TestSql.Get("demote_every_admin")));
        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
        Assert.Equal("users_last_admin", refused.ConstraintName);
        Assert.True(await AsOwner<long>("count_admins") >= 1);
    }

    [Fact]
    public async Task Grant_to_refuses_public_the_owner_and_superusers_and_grants_nothing()
    {
        var ownerRole = new NpgsqlConnectionStringBuilder(api.Database.ConnectionString).Username!;
        var superuser = await AsOwner<string>("a_superuser");
        foreach (var role in new[] { "public", "PUBLIC", ownerRole, superuser })
        {
            var run = await CliProcess.RunAsync(api.Database.ConnectionString, "migrate", "--grant-to", role);

            Assert.Equal(2, run.ExitCode);
            Assert.Contains("refused", run.StandardError, StringComparison.Ordinal);
        }

        Assert.False(await AsOwner<bool>("public_may_insert_users"));
    }
}

/// <summary>An instance whose listener connection (ConnectionStrings:UserKeysListen) reaches another database.</summary>
public sealed class WrongListenDatabaseFactory : ApiFactory
{
    private TestDatabase? _elsewhere;

    public override async Task InitializeAsync()
    {
        _elsewhere = await PostgresServer.CreateMigratedDatabaseAsync();
        await base.InitializeAsync();
    }

    protected override void ConfigureSettings(IWebHostBuilder builder) =>
        builder.UseSetting("ConnectionStrings:UserKeysListen", _elsewhere!.ServiceConnectionString);

    protected override async Task AfterDatabaseDroppedAsync()
    {
        if (_elsewhere is not null)
        {
            await _elsewhere.DisposeAsync();
        }
    }
}

public sealed class WrongListenDatabaseTests(WrongListenDatabaseFactory api) : IClassFixture<WrongListenDatabaseFactory>
{
    [Fact]
    public async Task A_listener_on_another_database_keeps_the_cache_off_and_says_why()
    {
        using var anonymous = api.Client();
        await (await anonymous.GetAsync("/healthz")).Expect(HttpStatusCode.OK); // the host runs

        var (said, _) = await Poll.UntilAsync(
            () => Task.FromResult(api.Logs.Lines.Any(line => line.Contains("reaches another database", StringComparison.Ordinal))),
            found => found, TimeSpan.FromSeconds(5));

        Assert.True(said);
        Assert.False(api.Services.GetRequiredService<Auth.AuthCache>().Enabled);
    }
}
