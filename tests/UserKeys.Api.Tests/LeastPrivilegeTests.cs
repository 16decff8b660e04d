using System.Net;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// The service as a role of its own that may read and write rows but not change the schema: made by the test, given
/// its privileges by the real <c>migrate --grant-to</c>, and the service configured to connect as it.
/// </summary>
public sealed class RestrictedApiFactory : ApiFactory
{
    public string Role { get; } = $"uk_svc_{Guid.NewGuid():N}"[..24];

    public string RestrictedConnectionString { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var password = Guid.NewGuid().ToString("N");
        await using (var connection = await Database.DataSource.OpenConnectionAsync())
        {
            var create = await connection.QuerySingleAsync<string>(TestSql.Get("create_role_statement"), new { role = Role, password });
            await connection.ExecuteAsync(create);
        }

        RestrictedConnectionString = new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Username = Role, Password = password }.ConnectionString;
        var grant = await CliProcess.RunAsync(Database.ConnectionString, "migrate", "--grant-to", Role);
        if (grant.ExitCode != 0)
        {
            throw new InvalidOperationException($"migrate --grant-to failed: {grant.StandardError}");
        }
    }

    protected override void ConfigureSettings(IWebHostBuilder builder) =>
        builder.UseSetting("ConnectionStrings:UserKeys", RestrictedConnectionString);

    /// <summary>Roles belong to the whole server: this one goes once the test database (where it had rights) is gone.</summary>
    protected override Task AfterDatabaseDroppedAsync() => PostgresServer.DropRoleAsync(Role);
}

public sealed class LeastPrivilegeTests(RestrictedApiFactory api) : IClassFixture<RestrictedApiFactory>
{
    [Fact]
    public async Task The_contract_works_through_a_role_that_has_rows_but_not_the_schema()
    {
        using var admin = api.Admin();
        await (await api.Client().GetAsync("/readyz")).Expect(HttpStatusCode.OK);

        var user = await (await admin.PostJson("/v1/users", new { email = Http.Email("restricted"), name = "R" })).Expect(HttpStatusCode.Created);
        var id = user.Long("id");
        await (await admin.PatchJson($"/v1/users/{id}", new { name = "Restricted" })).Expect(HttpStatusCode.OK);
        var key = await api.IssueKey(id, new
        {
            permissions = new[] { "a.read" }, meta = new { plan = "pro" }, remaining = 10,
            rate_limits = new[] { new { name = "m", limit = 5, duration_ms = 60_000 } },
        });
        using (var anonymous = api.Client())
        {
            var verified = await (await anonymous.PostJson("/v1/keys/verify", new { token = key.Str("token"), permissions = new[] { "a.read" } }))
                .Expect(HttpStatusCode.OK);
            Assert.True(verified.GetProperty("valid").GetBoolean());
            Assert.Equal(9, verified.Long("remaining"));
        }

        var path = $"/v1/users/{id}/keys/{key.Long("id")}";
        await (await admin.PatchJson(path, new { enabled = false })).Expect(HttpStatusCode.OK);
        var rolled = await (await admin.PostJson($"{path}/roll", new { grace_seconds = 30 })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));
        await (await admin.PostAsync($"/v1/users/{id}/keys/{rolled.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        await (await admin.GetAsync($"/v1/users?limit=5&include=keys")).Expect(HttpStatusCode.OK);
        await (await admin.GetAsync($"/v1/users?limit=5&offset=0")).Expect(HttpStatusCode.OK);
        var page = await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
        await (await admin.GetAsync($"/v1/users?limit=1&after={Uri.EscapeDataString(page.Str("next_cursor"))}")).Expect(HttpStatusCode.OK);
        await api.Services.GetRequiredService<Usage.UsageCounter>().FlushAsync(CancellationToken.None);
        await (await admin.GetAsync($"{path}/usage")).Expect(HttpStatusCode.OK);
        Assert.True(await api.Services.GetRequiredService<Usage.UsageCounter>().PurgeAsync(CancellationToken.None) >= 0);
        // The audit purge is the schema owner's alone (migration 0020): the service's role may not run it.
        var notOwner = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => api.Services.GetRequiredService<Audit.AuditRetention>().PurgeAsync(CancellationToken.None));
        Assert.Equal(Npgsql.PostgresErrorCodes.InsufficientPrivilege, notOwner.SqlState);
        var provisioned = await (await admin.PostJson("/v1/provision", new { email = Http.Email("restricted-p") })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(provisioned.GetProperty("key").Str("token"));
        await (await admin.DeleteAsync($"/v1/users/{id}")).Expect(HttpStatusCode.NoContent);

        var trail = await (await admin.GetAsync($"/v1/audit?user_id={id}&limit=100")).Expect(HttpStatusCode.OK);
        Assert.Contains(trail.GetProperty("items").EnumerateArray(), item => item.Str("action") == "user.deleted");
        Assert.All(trail.GetProperty("items").EnumerateArray(), item => Assert.Equal(api.Role, item.GetProperty("actor").Str("db_role")));
    }

    [Theory]
    [InlineData("create_table")]
    [InlineData("migration_add_key_column")]
    [InlineData("update_audit_event")]
    [InlineData("insert_audit_event_directly")]
    public async Task The_services_role_cannot_change_the_schema_nor_write_audit_events(string statement)
    {
        // Not pooled: an idle pooled session of this role would outlive the test and hold its database.
        await using var restricted = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(api.RestrictedConnectionString) { Pooling = false }.ConnectionString);
        await restricted.OpenAsync();
        var sql = TestSql.WithIdentifiers(statement, ("table", "uk_intruder"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => restricted.ExecuteAsync(sql, new { id = 1L }));
        Assert.True(error.SqlState is PostgresErrorCodes.InsufficientPrivilege, $"{error.SqlState}: {error.MessageText}");
    }

    [Fact]
    public async Task Readyz_names_the_missing_privileges_of_a_role_without_grants_and_grant_to_an_unknown_role_fails()
    {
        var bare = $"uk_bare_{Guid.NewGuid():N}"[..24];
        var password = Guid.NewGuid().ToString("N");
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(await connection.QuerySingleAsync<string>(TestSql.Get("create_role_statement"), new { role = bare, password }));
        }

        try
        {
            var bareConnection = new NpgsqlConnectionStringBuilder(api.Database.ConnectionString) { Username = bare, Password = password }.ConnectionString;
            await using (var service = await ServiceProcess.StartNotReadyAsync(bareConnection))
            {
                using var client = service.Client(null);
                var problem = await (await client.GetAsync("/readyz")).Expect(HttpStatusCode.ServiceUnavailable);
                Assert.Contains("lacks privileges", problem.Str("title"));
                Assert.Contains("api_keys: UPDATE", problem.Str("detail"));
                Assert.Contains("--grant-to", problem.Str("detail"));
            }

            var unknown = await CliProcess.RunAsync(api.Database.ConnectionString, "migrate", "--grant-to", "uk_no_such_role");
            Assert.Equal(1, unknown.ExitCode);
            Assert.Contains("uk_no_such_role", unknown.StandardError);
        }
        finally
        {
            // It owns nothing and holds no privilege: it can go while the database stays.
            await PostgresServer.DropRoleAsync(bare);
        }
    }
}
