using System.Net;
using Dapper;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using UserKeys.Api.Auth;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>A small key cap, so that tests can reach it.</summary>
public sealed class SmallCapFactory : ApiFactory
{
    public const int Cap = 10;

    protected override void ConfigureSettings(IWebHostBuilder builder) =>
        builder.UseSetting("UserKeys:MaxKeysPerUser", Cap.ToString(System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>Privilege cannot grow: scopes, expiry bounds, the key cap, the last admin, and which endpoint needs what.</summary>
public sealed class PrivilegeTests(SmallCapFactory api) : IClassFixture<SmallCapFactory>
{
    [Fact]
    public async Task A_scoped_key_may_do_only_what_its_scopes_and_its_role_allow()
    {
        var readOnly = await api.IssueKey((await api.CreateUserWithKey(role: "admin")).Id, new { name = "ro", scopes = new[] { "users:read" } });
        api.IssuedTokens.Add(readOnly.Str("token"));
        Assert.Equal(["users:read"], readOnly.GetProperty("scopes").EnumerateArray().Select(scope => scope.GetString()));
        using var client = api.Client(readOnly.Str("token"));

        await (await client.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // needs no scope
        var refused = await (await client.PostJson("/v1/users", new { email = Http.Email() })).Expect(HttpStatusCode.Forbidden);
        Assert.Contains("users:write", refused.Str("detail"), StringComparison.Ordinal);
        await (await client.GetAsync($"/v1/users/{readOnly.Long("user_id")}/keys")).Expect(HttpStatusCode.Forbidden);

        // A member's key with every scope still acts only on its own user.
        var member = await api.CreateUserWithKey();
        using var asMember = api.Client(member.Token);
        await (await asMember.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_key_cannot_create_a_key_with_a_scope_it_lacks_and_by_default_passes_on_its_own()
    {
        var member = await api.CreateUserWithKey();
        var narrow = await api.IssueKey(member.Id, new { name = "narrow", scopes = new[] { "keys:read", "keys:write" } });
        using var client = api.Client(narrow.Str("token"));

        var refused = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { scopes = new[] { "keys:write", "users:write" } }))
            .Expect(HttpStatusCode.Forbidden);
        Assert.Contains("users:write", refused.Str("detail"), StringComparison.Ordinal);

        var inherited = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { name = "child" })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(inherited.Str("token"));
        Assert.Equal(["keys:read", "keys:write"], inherited.GetProperty("scopes").EnumerateArray().Select(scope => scope.GetString()));

        var bad = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { scopes = new[] { "root" } })).Expect(HttpStatusCode.BadRequest);
        Assert.True(bad.GetProperty("errors").TryGetProperty("scopes", out _));
    }

    [Fact]
    public async Task A_key_that_expires_cannot_create_a_key_that_outlives_it()
    {
        var member = await api.CreateUserWithKey();
        var expiry = DateTimeOffset.UtcNow.AddHours(1);
        var shortLived = await api.IssueKey(member.Id, new { name = "short", expires_at = expiry });
        using var client = api.Client(shortLived.Str("token"));

        var refused = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { expires_at = expiry.AddDays(1) })).Expect(HttpStatusCode.BadRequest);
        Assert.True(refused.GetProperty("errors").TryGetProperty("expires_at", out _));

        var defaulted = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { name = "child" })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(defaulted.Str("token"));
        Assert.Equal(shortLived.Str("expires_at"), defaulted.Str("expires_at"));

        var sooner = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { expires_at = expiry.AddMinutes(-30) })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(sooner.Str("token"));
    }

    [Fact]
    public async Task Fifty_concurrent_creations_past_the_cap_leave_exactly_the_cap()
    {
        var member = await api.CreateUserWithKey(); // one key already
        using var admin = api.Admin();
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            var response = await admin.PostJson($"/v1/users/{member.Id}/keys", new { name = "burst" });
            if (response.StatusCode == HttpStatusCode.Created)
            {
                api.IssuedTokens.Add((await response.Json()).Str("token"));
            }

            return response;
        }));

        Assert.Equal(SmallCapFactory.Cap - 1, responses.Count(response => response.StatusCode == HttpStatusCode.Created));
        Assert.All(responses.Where(response => response.StatusCode != HttpStatusCode.Created),
            response => Assert.Equal(HttpStatusCode.Conflict, response.StatusCode));
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(SmallCapFactory.Cap, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_keys_of_user"), new { user_id = member.Id }));
    }

    [Fact]
    public async Task A_users_keys_page_newest_first_with_a_signed_cursor()
    {
        var member = await api.CreateUserWithKey();
        for (var i = 0; i < 4; i++)
        {
            await api.IssueKey(member.Id, new { name = $"k{i}" });
        }

        using var admin = api.Admin();
        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync($"/v1/users/{member.Id}/keys?limit=2" + (cursor is null ? "" : $"&after={Uri.EscapeDataString(cursor)}")))
                .Expect(HttpStatusCode.OK);
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(key => key.Long("id")));
            cursor = page.GetProperty("next_cursor").GetString();
        }
        while (cursor is not null);

        Assert.Equal(5, seen.Count);
        Assert.Equal(seen.OrderDescending(), seen);
        await (await admin.GetAsync($"/v1/users/{member.Id}/keys?limit=0")).Expect(HttpStatusCode.BadRequest);
        await (await admin.GetAsync($"/v1/users/{member.Id}/keys?limit=101")).Expect(HttpStatusCode.BadRequest);
        var userCursor = (await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK)).Str("next_cursor");
        await (await admin.GetAsync($"/v1/users/{member.Id}/keys?after={Uri.EscapeDataString(userCursor)}")).Expect(HttpStatusCode.BadRequest);
    }

    /// <summary>Every endpoint the service registers, with the policy and scope the contract's tables give it.</summary>
    [Fact]
    public void Every_registered_endpoint_has_the_access_rule_the_contract_gives_it()
    {
        // "METHOD route": (anonymous, admin only, scope) per ../shared/API.md.
        var contract = new Dictionary<string, (bool Anonymous, bool Admin, string? Scope)>
        {
            ["POST /v1/users/"] = (false, true, Scopes.UsersWrite),
            ["GET /v1/users/me"] = (false, false, null),
            ["GET /v1/users/{id:long}"] = (false, false, Scopes.UsersRead),
            ["GET /v1/users/"] = (false, true, Scopes.UsersRead),
            ["PATCH /v1/users/{id:long}"] = (false, false, Scopes.UsersWrite),
            ["DELETE /v1/users/{id:long}"] = (false, true, Scopes.UsersWrite),
            ["POST /v1/users/{id:long}/keys/"] = (false, false, Scopes.KeysWrite),
            ["GET /v1/users/{id:long}/keys/"] = (false, false, Scopes.KeysRead),
            ["POST /v1/users/{id:long}/keys/{key_id:long}/revoke"] = (false, false, Scopes.KeysWrite),
            ["DELETE /v1/users/{id:long}/keys/{key_id:long}"] = (false, false, Scopes.KeysWrite),
            ["PATCH /v1/users/{id:long}/keys/{key_id:long}"] = (false, false, Scopes.KeysWrite),
            ["POST /v1/users/{id:long}/keys/{key_id:long}/roll"] = (false, false, Scopes.KeysWrite),
            ["GET /v1/audit"] = (false, true, Scopes.AuditRead),
            ["GET /v1/users/{id:long}/keys/{key_id:long}/usage"] = (false, false, Scopes.KeysRead),
            ["GET /v1/users/{id:long}/audit"] = (false, false, Scopes.AuditRead),
            ["POST /v1/provision"] = (false, true, Scopes.UsersWrite),
            ["POST /v1/keys/verify"] = (false, false, Scopes.KeysVerify),
            ["GET /healthz"] = (true, false, null),
            ["GET /readyz"] = (true, false, null),
        };
        var endpoints = api.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var checkedRoutes = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var methods = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            var route = endpoint.RoutePattern.RawText!;
            var anonymous = endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null;
            var rule = Access.RuleFor(endpoint);
            foreach (var method in methods)
            {
                var name = $"{method} {route}";
                if (!contract.TryGetValue(name, out var expected))
                {
                    // Not in the contract's tables: only the OpenAPI document and the reference, both anonymous.
                    Assert.True(anonymous && (route.StartsWith("/openapi", StringComparison.Ordinal) || route.StartsWith("/reference", StringComparison.Ordinal)),
                        $"{name} is not in the contract");
                    continue;
                }

                checkedRoutes.Add(name);
                Assert.True(expected.Anonymous == anonymous, $"{name}: anonymous is {anonymous}");
                // Every endpoint that is not anonymous needs a caller: it has a rule, whatever metadata it was given.
                Assert.True(anonymous == (rule is null), $"{name}: access rule {rule}");
                Assert.True(expected.Admin == (rule?.Admin == true), $"{name}: admin");
                var scopes = rule?.Scopes ?? [];
                Assert.True(expected.Scope is null ? scopes.Length == 0 : scopes.Contains(expected.Scope), $"{name}: scopes {string.Join(",", scopes)}");
            }
        }

        Assert.Equal(contract.Keys.Order(), checkedRoutes.Order());
    }
}

/// <summary>There is always one admin: alone in a database of its own, so no other test's admins count.</summary>
public sealed class LastAdminTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task The_last_admin_cannot_be_deleted_or_demoted_even_by_two_admins_at_once()
    {
        using var first = api.Admin();
        var me = await (await first.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        var second = await api.CreateUserWithKey(role: "admin");
        using var asSecond = api.Client(second.Token);

        // Two admins demote each other at the same time: one wins and one admin is left. The loser is refused
        // by the database (409), or, when the winner committed before the loser was authenticated, is a
        // member by then and may not touch another user (404).
        var responses = await Task.WhenAll(
            first.PatchJson($"/v1/users/{second.Id}", new { role = "member" }),
            asSecond.PatchJson($"/v1/users/{me.Long("id")}", new { role = "member" }));
        Assert.Single(responses, response => response.StatusCode == HttpStatusCode.OK);
        Assert.Single(responses, response => response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound);
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_admins")));

        // Whoever is left is the last admin: neither demoting nor deleting it is allowed.
        var survivor = responses[0].StatusCode == HttpStatusCode.OK ? (Client: first, Id: me.Long("id")) : (Client: asSecond, Id: second.Id);
        var demote = await (await survivor.Client.PatchJson($"/v1/users/{survivor.Id}", new { role = "member" })).Expect(HttpStatusCode.Conflict);
        Assert.Contains("last admin", demote.Str("detail"), StringComparison.Ordinal);
        await (await survivor.Client.DeleteAsync($"/v1/users/{survivor.Id}")).Expect(HttpStatusCode.Conflict);
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_admins")));
    }

    /// <summary>The database's guard, with the interleaving forced: the second demotion waits for the first, then sees it.</summary>
    [Fact]
    public async Task Two_transactions_demoting_the_last_two_admins_leave_one()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        await using var setup = await database.DataSource.OpenConnectionAsync();
        var first = await setup.ExecuteScalarAsync<long>(TestSql.Get("insert_admin"), new { email = Http.Email("a") });
        var second = await setup.ExecuteScalarAsync<long>(TestSql.Get("insert_admin"), new { email = Http.Email("b") });

        await using var one = await database.DataSource.OpenConnectionAsync();
        await using var two = await database.DataSource.OpenConnectionAsync();
        await using var oneTransaction = await one.BeginTransactionAsync();
        await one.ExecuteAsync(TestSql.Get("set_role_directly"), new { id = first, role = "member" }, oneTransaction);
        await using var twoTransaction = await two.BeginTransactionAsync();
        var demoteSecond = two.ExecuteAsync(TestSql.Get("set_role_directly"), new { id = second, role = "member" }, twoTransaction);

        // Wait (on a condition, bounded) until the second demotion waits for the first's lock.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (await setup.ExecuteScalarAsync<long>(TestSql.Get("count_backends_waiting_on_lock")) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
        }

        await oneTransaction.CommitAsync();
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => demoteSecond);
        Assert.Equal("23514", refused.SqlState);
        Assert.Equal("users_last_admin", refused.ConstraintName);
        await twoTransaction.RollbackAsync();
        Assert.Equal(1L, await setup.ExecuteScalarAsync<long>(TestSql.Get("count_admins")));
    }
}
