using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using UserKeys.Api.Auth;
using UserKeys.Api.Commands;
using UserKeys.Data;
using UserKeys.Data.Migrations;
using UserKeys.Data.Sql;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// Which endpoint or command runs each file of sql/queries, observed (every statement Npgsql sends is
/// captured per request and matched to its catalog file), and compared with the table in sql/README.md.
/// </summary>
public sealed partial class QueryMapTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    // Run outside any request, so not observable per request here; or run by nothing at all.
    private static readonly Dictionary<string, string> NotObservedPerRequest = new()
    {
        ["auth/listen"] = "serve: the auth cache's listener, once per (re)connection",
        ["auth/heartbeat"] = "serve: the auth cache's listener, every second",
        ["usage/flush"] = "serve: every instance's usage counts, every 5 s and when it stops",
        ["usage/purge"] = "serve: usage buckets older than UserKeys__UsageRetentionDays, once an hour",
        ["rate_limits/purge_windows"] = "serve: the rows of rate limit windows that ended a minute ago are deleted, every minute",
        ["keys/get_with_user_by_ids"] = "serve: the auth cache reads the keys in use again, up to 500 a statement, 40-75% into UserKeys__AuthCacheSeconds",
        ["keys/touch_last_used"] = "serve: the last use of every key used since the last flush (each at most once a minute), every second and when it stops",
        ["credits/give_back"] = "serve: a limited key's unused credits go back (idle for a second, the key changed, or the service stops)",
        ["auth/identity"] = "serve: the auth cache's listener, once per (re)connection, when ConnectionStrings:UserKeysListen is set",
        ["audit/purge"] = "audit-purge (as the schema's owner); serve, when it runs as the owner: at start, then every UserKeys__AuditPurgeIntervalSeconds",
        ["credits/give_back_user"] = "serve: a limited user's unused credits go back (idle for a second, the user changed, or the service stops)",
    };

    [Fact]
    public async Task The_readme_table_says_which_endpoint_or_command_runs_each_query_file()
    {
        var observed = new ConcurrentDictionary<string, SortedSet<string>>();
        var normalized = SqlCatalog.All.ToDictionary(statement => Normalize(statement.Text), statement => statement.Name);
        string? current = null;
        // Only this class's databases: other test classes run in parallel and send statements too.
        var database = api.Database.Name;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                var label = Volatile.Read(ref current);
                if (label is not null && activity.GetTagItem("db.query.text") is string text
                    && normalized.TryGetValue(Normalize(text), out var name)
                    && !NotObservedPerRequest.ContainsKey(name) // the auth listener's LISTEN and ping can land in any window
                    && Equals(activity.GetTagItem("db.namespace"), Volatile.Read(ref database)))
                {
                    observed.GetOrAdd(name, _ => new SortedSet<string>(StringComparer.Ordinal)).Add(label);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        async Task Observe(string label, Func<Task> action) => await ObserveResult(label, async () =>
        {
            await action();
            return 0;
        });

        async Task<T> ObserveResult<T>(string label, Func<Task<T>> action)
        {
            Volatile.Write(ref current, label);
            var result = await action();
            Volatile.Write(ref current, null);
            return result;
        }

        using var admin = api.Admin();
        await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // the admin's key is cached from here on
        var member = await api.CreateUserWithKey();
        var spare = await api.IssueKey(member.Id);
        var fresh = await api.IssueKey(member.Id);
        api.IssuedTokens.Add(fresh.Str("token"));

        await Observe("authentication (key not cached)", async () =>
            await (await api.Client(fresh.Str("token")).GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK));
        await Observe("POST /v1/users", async () =>
            await (await admin.PostJson("/v1/users", new { email = Http.Email() })).Expect(HttpStatusCode.Created));
        await Observe("GET /v1/users/{id}", async () => await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?email=", async () =>
            await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(member.Email)}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?email=&include=keys", async () =>
            await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(member.Email)}&include=keys")).Expect(HttpStatusCode.OK));
        var page = await ObserveResult("GET /v1/users keyset paging, first use in a process (the cursor key)",
            async () => await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?limit=", async () => await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?limit=&include=keys", async () => await (await admin.GetAsync("/v1/users?limit=1&include=keys")).Expect(HttpStatusCode.OK));
        var cursor = Uri.EscapeDataString(page.Str("next_cursor"));
        await Observe("GET /v1/users?after=", async () => await (await admin.GetAsync($"/v1/users?limit=1&after={cursor}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?after=&include=keys", async () =>
            await (await admin.GetAsync($"/v1/users?limit=1&after={cursor}&include=keys")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?offset=", async () => await (await admin.GetAsync("/v1/users?limit=1&offset=1")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users?offset=&include=keys", async () =>
            await (await admin.GetAsync("/v1/users?limit=1&offset=1&include=keys")).Expect(HttpStatusCode.OK));
        await Observe("PATCH /v1/users/{id}", async () =>
            await (await admin.PatchJson($"/v1/users/{member.Id}", new { email = Http.Email(), name = "x" })).Expect(HttpStatusCode.OK));
        await Observe("POST /v1/users/{id}/keys", async () =>
            await (await admin.PostJson($"/v1/users/{member.Id}/keys", new { })).Expect(HttpStatusCode.Created));
        await Observe("POST /v1/users/{id}/keys (a member's own: derived from its key)", async () =>
        {
            var derived = await (await api.Client(member.Token).PostJson($"/v1/users/{member.Id}/keys", new { })).Expect(HttpStatusCode.Created);
            api.IssuedTokens.Add(derived.Str("token"));
        });
        var keyPage = await ObserveResult("GET /v1/users/{id}/keys", async () => await (await admin.GetAsync($"/v1/users/{member.Id}/keys?limit=1")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users/{id}/keys?after=", async () =>
            await (await admin.GetAsync($"/v1/users/{member.Id}/keys?limit=1&after={Uri.EscapeDataString(keyPage.Str("next_cursor"))}")).Expect(HttpStatusCode.OK));
        await Observe("POST /v1/users/{id}/keys/{key_id}/revoke", async () =>
            await (await admin.PostAsync($"/v1/users/{member.Id}/keys/{spare.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK));
        await Observe("DELETE /v1/users/{id}/keys/{key_id}", async () =>
            await (await admin.DeleteAsync($"/v1/users/{member.Id}/keys/{spare.Long("id")}")).Expect(HttpStatusCode.NoContent));
        var governed = await api.IssueKey(member.Id);
        await Observe("PATCH /v1/users/{id}/keys/{key_id}", async () =>
            await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{governed.Long("id")}", new { enabled = false, meta = new { plan = "pro" } }))
                .Expect(HttpStatusCode.OK));
        await Observe("PATCH /v1/users/{id}/keys/{key_id}", async () =>
            await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{fresh.Long("id")}", new { scopes = new[] { "users:read" } }))
                .Expect(HttpStatusCode.OK));
        await Observe("PATCH /v1/users/{id}/keys/{key_id} (scopes widened: 403)", async () =>
            await (await admin.PatchJson($"/v1/users/{member.Id}/keys/{fresh.Long("id")}", new { scopes = new[] { "users:read", "keys:read" } }))
                .Expect(HttpStatusCode.Forbidden));
        await Observe("POST /v1/users/{id}/keys/{key_id}/roll", async () =>
            await (await admin.PostJson($"/v1/users/{member.Id}/keys/{governed.Long("id")}/roll", new { grace_seconds = 60 })).Expect(HttpStatusCode.Created));
        await Observe("POST /v1/users/{id}/keys/{key_id}/roll (409: why)", async () =>
            await (await admin.PostJson($"/v1/users/{member.Id}/keys/{governed.Long("id")}/roll", new { })).Expect(HttpStatusCode.Conflict));
        await Observe("GET /v1/users/{id}/keys/{key_id}/usage", async () =>
            await (await admin.GetAsync($"/v1/users/{member.Id}/keys/{governed.Long("id")}/usage")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users/{id}/keys/{key_id}/usage?granularity=day", async () =>
            await (await admin.GetAsync($"/v1/users/{member.Id}/keys/{governed.Long("id")}/usage?granularity=day")).Expect(HttpStatusCode.OK));
        var audit = await ObserveResult("GET /v1/audit", async () => await (await admin.GetAsync("/v1/audit?limit=1")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/audit?after=", async () =>
            await (await admin.GetAsync($"/v1/audit?limit=1&after={Uri.EscapeDataString(audit.Str("next_cursor"))}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/audit?user_id=", async () => await (await admin.GetAsync($"/v1/audit?user_id={member.Id}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/audit?key_id=", async () => await (await admin.GetAsync($"/v1/audit?key_id={governed.Long("id")}")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/audit?action=", async () => await (await admin.GetAsync("/v1/audit?action=key.rolled")).Expect(HttpStatusCode.OK));
        await Observe("GET /v1/users/{id}/audit", async () => await (await admin.GetAsync($"/v1/users/{member.Id}/audit")).Expect(HttpStatusCode.OK));
        await Observe("DELETE /v1/users/{id}", async () => await (await admin.DeleteAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.NoContent));
        await Observe("POST /v1/provision", async () =>
            await (await admin.PostJson("/v1/provision", new { email = Http.Email() })).Expect(HttpStatusCode.Created));
        var unverified = await api.IssueKey((await api.CreateUserWithKey()).Id);
        await Observe("POST /v1/keys/verify", async () =>
            await (await api.Client().PostJson("/v1/keys/verify", new { token = unverified.Str("token") })).Expect(HttpStatusCode.OK));
        var limited = await api.IssueKey((await api.CreateUserWithKey()).Id, new { remaining = 100 });
        var rateLimited = await api.IssueKey((await api.CreateUserWithKey()).Id, new { rate_limits = new[] { new { name = "m", limit = 10, duration_ms = 60_000 } } });
        await Observe("POST /v1/keys/verify (a key with rate limits)", async () =>
            await (await api.Client().PostJson("/v1/keys/verify", new { token = rateLimited.Str("token") })).Expect(HttpStatusCode.OK));
        await Observe("POST /v1/keys/verify (a key with credits)", async () =>
            await (await api.Client().PostJson("/v1/keys/verify", new { token = limited.Str("token") })).Expect(HttpStatusCode.OK));
        var limitedUser = await (await admin.PostJson("/v1/users", new
        {
            email = Http.Email(), remaining = 100, rate_limits = new[] { new { name = "m", limit = 10, duration_ms = 60_000 } },
        })).Expect(HttpStatusCode.Created);
        var ofLimitedUser = await api.IssueKey(limitedUser.Long("id"));
        await Observe("POST /v1/keys/verify (a key of a user with limits)", async () =>
            await (await api.Client().PostJson("/v1/keys/verify", new { token = ofLimitedUser.Str("token") })).Expect(HttpStatusCode.OK));
        // A key and a user whose credits run out: a second after a budget was found exhausted, the next refusal reads what
        // is left (a read, never a write).
        var tinyUser = await (await admin.PostJson("/v1/users", new { email = Http.Email(), remaining = 1 })).Expect(HttpStatusCode.Created);
        var spent = (await api.IssueKey(tinyUser.Long("id"), new { remaining = 1 })).Str("token");
        var unlimited = (await api.IssueKey(tinyUser.Long("id"))).Str("token");
        foreach (var token in new[] { spent, spent, unlimited })
        {
            await (await api.Client().PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
        }

        await Observe("POST /v1/keys/verify (a key or user found exhausted a second before)", async () =>
            await Poll.UntilAsync(
                async () =>
                {
                    foreach (var token in new[] { spent, unlimited })
                    {
                        await (await api.Client().PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
                    }

                    return true;
                },
                _ => observed.ContainsKey("credits/available") && observed.ContainsKey("credits/available_user"), TimeSpan.FromSeconds(3)));
        await Observe("GET /readyz; serve (start-up schema check)", async () => await (await api.Client().GetAsync("/readyz")).Expect(HttpStatusCode.OK));
        await Observe("bootstrap-admin", async () =>
        {
            await using var connection = await api.Database.DataSource.OpenConnectionAsync();
            await SchemaStatus.ReadAsync(connection, CancellationToken.None);
            var token = await BootstrapAdminCommand.IssueAsync(new UnitOfWorkFactory(api.Database.DataSource), Http.Email("boot"), null, NullLogger.Instance, CancellationToken.None);
            api.IssuedTokens.Add(token!);
        });
        var promotable = await api.CreateUserWithKey();
        await Observe("bootstrap-admin --promote", async () =>
        {
            var token = await BootstrapAdminCommand.IssueAsync(
                new UnitOfWorkFactory(api.Database.DataSource), promotable.Email, null, NullLogger.Instance, CancellationToken.None, promote: true);
            api.IssuedTokens.Add(token!);
        });
        await using (var empty = await PostgresServer.CreateEmptyDatabaseAsync())
        {
            var upgrader = new DatabaseUpgrader(empty.ConnectionString, NullLogger.Instance);
            Volatile.Write(ref database, empty.Name);
            await Observe("migrate --status, --dry-run, --script", () => upgrader.GetStatusAsync(CancellationToken.None));
            await Observe("migrate", () => upgrader.UpgradeAsync(CancellationToken.None));
            await Observe("migrate --grant-to ROLE", async () =>
            {
                await using var connection = await empty.DataSource.OpenConnectionAsync();
                await ServicePrivileges.GrantAsync(connection, PostgresServer.ServiceRole, CancellationToken.None);
            });
        }

        var table = SqlCatalog.All.Select(statement => $"| `{statement.Name}` | " +
            (observed.TryGetValue(statement.Name, out var labels) ? string.Join("; ", labels)
                : NotObservedPerRequest.GetValueOrDefault(statement.Name, "**nothing observed**")) + " |").ToList();
        var expected = string.Join('\n', ["| query file | run by |", "| --- | --- |", .. table]);
        var readme = await File.ReadAllTextAsync(RepositoryFiles.Path("sql", "README.md"));
        var actual = QueryMap().Match(readme).Groups[1].Value.Trim();
        Directory.CreateDirectory(RepositoryFiles.Path("artifacts"));
        await File.WriteAllTextAsync(RepositoryFiles.Path("artifacts", "query-map.md"), expected + "\n");

        Assert.DoesNotContain("**nothing observed**", expected);
        Assert.True(expected == actual, $"sql/README.md's query map is out of date; it should read:\n{expected}");
    }

    private static string Normalize(string sql) =>
        Whitespace().Replace(Placeholder().Replace(string.Join('\n', sql.Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal))), "?"), " ").Trim();

    [GeneratedRegex(@"(@[a-z_][a-z0-9_]*|\$\d+)")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"<!-- query-map:begin -->(.*?)<!-- query-map:end -->", RegexOptions.Singleline)]
    private static partial Regex QueryMap();
}
