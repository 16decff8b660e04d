using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>The audit log: written by the database, in the changing transaction, append-only, listed by admins and users.</summary>
public sealed class AuditTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private async Task<List<JsonElement>> Events(string path)
    {
        using var admin = api.Admin();
        var events = new List<JsonElement>();
        var next = path;
        while (next is not null)
        {
            var page = await (await admin.GetAsync(next)).Expect(HttpStatusCode.OK);
            events.AddRange(page.GetProperty("items").EnumerateArray());
            next = page.IsNull("next_cursor")
                ? null
                : $"{path}{(path.Contains('?', StringComparison.Ordinal) ? "&" : "?")}after={Uri.EscapeDataString(page.Str("next_cursor"))}";
        }

        return events;
    }

    [Theory]
    [InlineData("/v1/audit?limit=100")]
    [InlineData("/v1/audit?action=user.created&limit=100")]
    public async Task A_page_of_100_events_is_full_and_has_a_next_cursor_when_more_follow(string path)
    {
        // audit/list_all and audit/list_by_action cap their scan at the largest page plus one (LIMIT 101):
        // a cap below that would end a full page of 100 with a null cursor.
        using var admin = api.Admin();
        for (var i = 0; i < 101; i++)
        {
            await (await admin.PostJson("/v1/users", new { email = Http.Email($"audit-page{i}") })).Expect(HttpStatusCode.Created);
        }

        var first = await (await admin.GetAsync(path)).Expect(HttpStatusCode.OK);
        Assert.Equal(100, first.GetProperty("items").GetArrayLength());
        var second = await (await admin.GetAsync($"{path}&after={Uri.EscapeDataString(first.Str("next_cursor"))}")).Expect(HttpStatusCode.OK);
        Assert.NotEqual(0, second.GetProperty("items").GetArrayLength());
        Assert.True(first.GetProperty("items").EnumerateArray().Last().Long("id") > second.GetProperty("items")[0].Long("id"));
    }

    private async Task<T> Sql<T>(string name, object? parameters = null)
    {
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<T>(TestSql.Get(name), parameters);
    }

    private async Task<PostgresException> SqlFails(string name, object? parameters = null)
    {
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        return await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync(TestSql.Get(name), parameters));
    }

    [Fact]
    public async Task Every_change_through_the_api_is_recorded_with_its_actor_request_and_changes_and_never_a_token()
    {
        using var admin = api.Admin();
        var adminMe = await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        var user = await (await admin.PostJson("/v1/users", new { email = Http.Email("audited"), name = "Ada" })).Expect(HttpStatusCode.Created);
        var userId = user.Long("id");
        var key = await api.IssueKey(userId, new { name = "ci", permissions = new[] { "ci.run" } });
        var keyId = key.Long("id");
        await (await admin.PatchJson($"/v1/users/{userId}", new { name = "Ada L." })).Expect(HttpStatusCode.OK);
        await (await admin.PatchJson($"/v1/users/{userId}/keys/{keyId}", new { enabled = false })).Expect(HttpStatusCode.OK);
        await (await admin.PatchJson($"/v1/users/{userId}/keys/{keyId}", new { enabled = true })).Expect(HttpStatusCode.OK);
        var rolled = await (await admin.PostJson($"/v1/users/{userId}/keys/{keyId}/roll", new { grace_seconds = 60 })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));
        await (await admin.PostAsync($"/v1/users/{userId}/keys/{rolled.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        // A refused change writes nothing, not even an event.
        await (await admin.PatchJson($"/v1/users/{userId}/keys/{rolled.Long("id")}", new { scopes = new[] { "users:read", "root" } })).Expect(HttpStatusCode.BadRequest);

        var events = await Events($"/v1/users/{userId}/audit?limit=2");

        Assert.Equal(
            ["key.revoked", "key.created", "key.rolled", "key.updated", "key.updated", "user.updated", "key.created", "user.created"],
            events.Select(item => item.Str("action")));
        Assert.Equal(events.Select(item => item.Long("id")).OrderDescending(), events.Select(item => item.Long("id")));
        foreach (var item in events)
        {
            Assert.Equal(adminMe.Long("id"), item.GetProperty("actor").Long("user_id"));
            Assert.False(string.IsNullOrEmpty(item.GetProperty("actor").Str("db_role")));
            Assert.False(string.IsNullOrEmpty(item.Str("request_id")));
            Assert.Equal(userId, item.Long("user_id"));
        }

        Assert.Equal(["Ada", "Ada L."], events[5].GetProperty("changes").GetProperty("name").EnumerateArray().Select(value => value.GetString()));
        Assert.Equal("[true,false]", events[4].GetProperty("changes").GetProperty("enabled").GetRawText().Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal(keyId, events[2].Long("key_id"));
        Assert.True(events[2].GetProperty("changes").TryGetProperty("expires_at", out _));
        Assert.Equal(keyId, events[1].GetProperty("changes").GetProperty("rolled_from_id")[1].GetInt64());
        Assert.True(events[0].GetProperty("changes").GetProperty("revoked_at")[0].ValueKind == JsonValueKind.Null);
        Assert.NotEqual(events[0].Str("request_id"), events[1].Str("request_id"));
        Assert.Equal(events[1].Str("request_id"), events[2].Str("request_id")); // one roll, one request

        // No token and no hash anywhere, neither in the answers nor in the table.
        var everything = await Sql<string>("all_audit_events_text");
        foreach (var token in new[] { key.Str("token"), rolled.Str("token") })
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
            foreach (var text in new[] { everything, string.Join('\n', events.Select(item => item.GetRawText())) })
            {
                Assert.DoesNotContain(token, text, StringComparison.Ordinal);
                Assert.DoesNotContain(Convert.ToHexString(hash), text, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(Convert.ToBase64String(hash), text, StringComparison.Ordinal);
                Assert.DoesNotContain("token_hash", text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_change_made_directly_in_sql_is_recorded_with_its_database_role_and_no_actor()
    {
        var owner = await api.CreateUserWithKey();
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("rename_key_directly"), new { id = owner.KeyId, name = "renamed-by-dba" });
        }

        var item = (await Events($"/v1/audit?key_id={owner.KeyId}&action=key.updated")).Single();
        Assert.Equal("key.updated", item.Str("action"));
        Assert.True(item.GetProperty("actor").IsNull("user_id"));
        Assert.True(item.GetProperty("actor").IsNull("key_id"));
        Assert.Equal(new NpgsqlConnectionStringBuilder(api.Database.ConnectionString).Username, item.GetProperty("actor").Str("db_role"));
        Assert.True(item.IsNull("request_id"));
        Assert.Equal("renamed-by-dba", item.GetProperty("changes").GetProperty("name")[1].GetString());
    }

    [Fact]
    public async Task Events_are_append_only_for_every_role_and_survive_their_users_deletion()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var first = (await Events($"/v1/audit?user_id={owner.Id}")).Last();

        Assert.Contains("append-only", (await SqlFails("update_audit_event", new { id = first.Long("id") })).MessageText);
        Assert.Contains("append-only", (await SqlFails("delete_audit_event", new { id = first.Long("id") })).MessageText);
        Assert.Contains("append-only", (await SqlFails("truncate_audit_events")).MessageText);

        await (await admin.DeleteAsync($"/v1/users/{owner.Id}")).Expect(HttpStatusCode.NoContent);

        var after = await Events($"/v1/audit?user_id={owner.Id}");
        // The cascade's key.deleted and the user.deleted are one statement's; their order is the engine's.
        Assert.Equal(["key.deleted", "user.deleted"], after.Take(2).Select(item => item.Str("action")).Order(StringComparer.Ordinal));
        Assert.Equal(["key.created", "user.created"], after.Skip(2).Select(item => item.Str("action")));
        Assert.Equal(owner.Email, after.Single(item => item.Str("action") == "user.deleted").GetProperty("changes").GetProperty("email")[0].GetString());
        Assert.Equal(first.GetRawText(), after[^1].GetRawText());
        await (await admin.GetAsync($"/v1/users/{owner.Id}/audit")).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_listings_filter_page_with_signed_cursors_and_refuse_bad_queries()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        for (var i = 0; i < 3; i++)
        {
            await (await admin.PatchJson($"/v1/users/{owner.Id}/keys/{owner.KeyId}", new { name = $"n{i}" })).Expect(HttpStatusCode.OK);
        }

        var updates = await Events($"/v1/audit?key_id={owner.KeyId}&action=key.updated&user_id={owner.Id}&limit=1");
        Assert.Equal(3, updates.Count);
        Assert.Empty(await Events($"/v1/audit?key_id={owner.KeyId}&user_id={owner.Id + 1000000}"));
        var byAction = await (await admin.GetAsync("/v1/audit?action=key.updated&limit=100")).Expect(HttpStatusCode.OK);
        Assert.All(byAction.GetProperty("items").EnumerateArray(), item => Assert.Equal("key.updated", item.Str("action")));

        var page = await (await admin.GetAsync("/v1/audit?limit=1")).Expect(HttpStatusCode.OK);
        var cursor = page.Str("next_cursor");
        var tampered = cursor[..^2] + (cursor[^2] == 'A' ? "B" : "A") + cursor[^1];
        foreach (var query in new[]
        {
            "limit=0", "limit=101", "limit=x", $"after={Uri.EscapeDataString(tampered)}", "after=", "user_id=-1", "user_id=abc", "key_id=0",
            "action=key.exploded", "action=key.updated&action=key.created",
        })
        {
            await (await admin.GetAsync($"/v1/audit?{query}")).Expect(HttpStatusCode.BadRequest);
        }

        // A cursor of another listing is refused.
        await api.IssueKey(owner.Id);
        var keyCursor = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys?limit=1")).Expect(HttpStatusCode.OK)).Str("next_cursor");
        await (await admin.GetAsync($"/v1/audit?after={Uri.EscapeDataString(keyCursor)}")).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Members_read_only_their_own_events_and_only_with_audit_read()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        var own = await (await client.GetAsync($"/v1/users/{member.Id}/audit")).Expect(HttpStatusCode.OK);
        Assert.All(own.GetProperty("items").EnumerateArray(), item => Assert.Equal(member.Id, item.Long("user_id")));
        Assert.NotEmpty(own.GetProperty("items").EnumerateArray());
        await (await client.GetAsync($"/v1/users/{other.Id}/audit")).Expect(HttpStatusCode.NotFound);
        await (await client.GetAsync("/v1/audit")).Expect(HttpStatusCode.Forbidden);
        await (await client.GetAsync($"/v1/audit?user_id={member.Id}")).Expect(HttpStatusCode.Forbidden);

        var noAudit = await api.IssueKey(member.Id, new { scopes = new[] { "users:read" } });
        using var narrow = api.Client(noAudit.Str("token"));
        await (await narrow.GetAsync($"/v1/users/{member.Id}/audit")).Expect(HttpStatusCode.Forbidden);
        using var anonymous = api.Client();
        await (await anonymous.GetAsync("/v1/audit")).Expect(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task The_retention_purge_run_by_the_owner_deletes_only_old_events_and_one_at_a_time()
    {
        var owner = await api.CreateUserWithKey();
        var old = await Sql<long>("insert_aged_audit_event", new { days_ago = 400, user_id = owner.Id });
        var recent = await Sql<long>("insert_aged_audit_event", new { days_ago = 30, user_id = owner.Id });

        // While another instance purges (holds the purge lock), a purge does nothing and says so.
        await using (var holder = await api.Database.DataSource.OpenConnectionAsync())
        await using (var transaction = await holder.BeginTransactionAsync())
        {
            await holder.ExecuteAsync(TestSql.Get("hold_audit_purge_lock"), transaction: transaction);
            Assert.Equal(-1, await Sql<int>("purge_audit_now", new { cutoff = DateTime.UtcNow.AddDays(-365), batch_size = 1000 }));
            var busy = await CliProcess.RunAsync(api.Database.ConnectionString, "audit-purge");
            Assert.Equal(4, busy.ExitCode);
            Assert.Contains("another purge", busy.StandardError, StringComparison.Ordinal);
            Assert.True(await Sql<bool>("audit_event_exists", new { id = old }));
        }

        // Not even the purge function deletes an event younger than the database's floor, whatever cutoff it is given.
        var fresh = (await Events($"/v1/audit?user_id={owner.Id}&action=user.created")).Single().Long("id");
        await Sql<int>("purge_audit_now", new { cutoff = DateTime.UtcNow.AddDays(1), batch_size = 10000 });
        Assert.True(await Sql<bool>("audit_event_exists", new { id = fresh }));
        Assert.False(await Sql<bool>("audit_event_exists", new { id = old })); // older than a day: that call took it

        var older = await Sql<long>("insert_aged_audit_event", new { days_ago = 366, user_id = owner.Id });
        recent = await Sql<long>("insert_aged_audit_event", new { days_ago = 30, user_id = owner.Id });
        var purge = await CliProcess.RunAsync(api.Database.ConnectionString, "audit-purge");
        Assert.Equal(0, purge.ExitCode);
        Assert.Matches("^deleted [1-9][0-9]* audit event", purge.StandardOutput);
        Assert.False(await Sql<bool>("audit_event_exists", new { id = older }));
        Assert.True(await Sql<bool>("audit_event_exists", new { id = recent }));
    }
}
