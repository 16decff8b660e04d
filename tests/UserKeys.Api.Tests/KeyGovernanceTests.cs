using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>Key fields for relying services (enabled, permissions, meta), PATCH, verify's new reasons, and roll.</summary>
public sealed class KeyGovernanceTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static string Path(long userId, long keyId, string rest = "") => $"/v1/users/{userId}/keys/{keyId}{rest}";

    private async Task<JsonElement> Verify(string token, object? permissions = null)
    {
        using var anonymous = api.Client();
        var body = permissions is null ? (object)new { token } : new { token, permissions };
        return await (await anonymous.PostJson("/v1/keys/verify", body)).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_key_is_created_with_enabled_permissions_and_meta_and_shows_them_everywhere()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();

        var key = await api.IssueKey(owner.Id, new { name = "billing", permissions = new[] { "billing.read", "billing:*", "billing.read" }, meta = new { plan = "pro", seats = 5 } });

        Assert.True(key.GetProperty("enabled").GetBoolean());
        Assert.Equal(["billing.read", "billing:*"], key.GetProperty("permissions").EnumerateArray().Select(item => item.GetString()));
        Assert.Equal("pro", key.GetProperty("meta").GetProperty("plan").GetString());
        Assert.Equal(5, key.GetProperty("meta").GetProperty("seats").GetInt32());
        Assert.True(key.IsNull("rolled_from_id"));

        var defaults = await api.IssueKey(owner.Id);
        Assert.True(defaults.GetProperty("enabled").GetBoolean());
        Assert.Empty(defaults.GetProperty("permissions").EnumerateArray());
        Assert.True(defaults.IsNull("meta"));

        var listed = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
        Assert.Equal("pro", listed.GetProperty("meta").GetProperty("plan").GetString());
        var included = (await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(owner.Email)}&include=keys")).Expect(HttpStatusCode.OK))
            .GetProperty("items")[0].GetProperty("keys").EnumerateArray().Single(item => item.Long("id") == key.Long("id"));
        Assert.Equal(2, included.GetProperty("permissions").GetArrayLength());

        var verified = await Verify(key.Str("token"));
        Assert.True(verified.GetProperty("valid").GetBoolean());
        Assert.Equal(2, verified.GetProperty("key").GetProperty("permissions").GetArrayLength());
        Assert.Equal("pro", verified.GetProperty("key").GetProperty("meta").GetProperty("plan").GetString());

        var provisioned = await (await admin.PostJson("/v1/provision", new { email = Http.Email("prov") })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(provisioned.GetProperty("key").Str("token"));
        Assert.True(provisioned.GetProperty("key").GetProperty("enabled").GetBoolean());
        Assert.Empty(provisioned.GetProperty("key").GetProperty("permissions").EnumerateArray());
        Assert.True(provisioned.GetProperty("key").IsNull("meta"));
    }

    [Fact]
    public async Task Answers_escape_only_what_json_requires()
    {
        var owner = await api.CreateUserWithKey(email: $"ada+{Guid.NewGuid():N}@example.com");
        var key = await api.IssueKey(owner.Id, new { meta = new { note = "a+b <c>" } });
        using var anonymous = api.Client();
        var raw = await (await anonymous.PostJson("/v1/keys/verify", new { token = key.Str("token") })).Content.ReadAsStringAsync();

        Assert.Contains("+00:00\"", raw, StringComparison.Ordinal);
        Assert.Contains("ada+", raw, StringComparison.Ordinal);
        Assert.Contains("a+b <c>", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u002B", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_governance_fields_are_all_named_at_once_and_nothing_is_written()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var tooMany = Enumerable.Range(0, 51).Select(i => $"p{i}").ToArray();
        var bigMeta = new string('x', 4100);

        var create = await (await admin.PostRaw($"/v1/users/{owner.Id}/keys",
                $$"""{"enabled":"yes","permissions":["ok","bad perm",""],"meta":[1,2]}""")).Expect(HttpStatusCode.BadRequest);
        var errors = create.GetProperty("errors");
        Assert.True(errors.TryGetProperty("enabled", out _));
        Assert.Contains("[1]", errors.GetProperty("permissions")[0].GetString());
        Assert.Contains("[2]", errors.GetProperty("permissions")[1].GetString());
        Assert.True(errors.TryGetProperty("meta", out _));

        var sizes = await (await admin.PostJson($"/v1/users/{owner.Id}/keys", new { permissions = tooMany, meta = new { blob = bigMeta } }))
            .Expect(HttpStatusCode.BadRequest);
        Assert.Contains("at most 50", sizes.GetProperty("errors").GetProperty("permissions")[0].GetString());
        Assert.Contains("4096 bytes", sizes.GetProperty("errors").GetProperty("meta")[0].GetString());

        await (await admin.PostRaw($"/v1/users/{owner.Id}/keys", """{"meta":{"a":"nul\u0000"}}""")).Expect(HttpStatusCode.BadRequest);
        await (await admin.PostRaw($"/v1/users/{owner.Id}/keys", """{"meta":{"a":"\ud800"}}""")).Expect(HttpStatusCode.BadRequest);

        var keys = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK);
        Assert.Single(keys.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task Patch_changes_only_the_fields_given_and_null_clears_name_and_meta()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { name = "svc", permissions = new[] { "a.read" }, meta = new { tier = 1 } });

        var renamed = await (await admin.PatchJson(Path(owner.Id, key.Long("id")), new { name = "renamed" })).Expect(HttpStatusCode.OK);
        Assert.Equal("renamed", renamed.Str("name"));
        Assert.Equal(1, renamed.GetProperty("meta").GetProperty("tier").GetInt32());
        Assert.Equal("a.read", renamed.GetProperty("permissions")[0].GetString());

        var changed = await (await admin.PatchRaw(Path(owner.Id, key.Long("id")),
            """{"name":null,"meta":null,"permissions":["b.write","c:*"],"scopes":["users:read","keys:read"]}""")).Expect(HttpStatusCode.OK);
        Assert.True(changed.IsNull("name"));
        Assert.True(changed.IsNull("meta"));
        Assert.Equal(["b.write", "c:*"], changed.GetProperty("permissions").EnumerateArray().Select(item => item.GetString()));
        Assert.Equal(["users:read", "keys:read"], changed.GetProperty("scopes").EnumerateArray().Select(item => item.GetString()));
        Assert.Equal(key.Str("created_at"), changed.Str("created_at"));

        var expires = DateTimeOffset.UtcNow.AddDays(3);
        var expiring = await (await admin.PatchJson(Path(owner.Id, key.Long("id")), new { expires_at = expires.ToString("O") })).Expect(HttpStatusCode.OK);
        Assert.Equal(expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff+00:00"), expiring.Str("expires_at"));
        var forever = await (await admin.PatchRaw(Path(owner.Id, key.Long("id")), """{"expires_at":null}""")).Expect(HttpStatusCode.OK);
        Assert.True(forever.IsNull("expires_at"));

        var empty = await (await admin.PatchRaw(Path(owner.Id, key.Long("id")), "{}")).Expect(HttpStatusCode.OK);
        Assert.Equal(forever.GetRawText(), empty.GetRawText());
    }

    [Fact]
    public async Task Patch_refuses_widening_scopes_a_later_expiry_than_the_callers_and_bad_fields_at_once()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var narrow = await api.IssueKey(owner.Id, new { scopes = new[] { "users:read" } });

        var widened = await (await admin.PatchJson(Path(owner.Id, narrow.Long("id")), new { scopes = new[] { "users:read", "keys:write" } }))
            .Expect(HttpStatusCode.Forbidden);
        Assert.Contains("keys:write", widened.Str("detail"));
        var unchanged = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == narrow.Long("id"));
        Assert.Equal(["users:read"], unchanged.GetProperty("scopes").EnumerateArray().Select(item => item.GetString()));

        // A member cannot widen its own key's scopes either (nor through its own key).
        var memberNarrow = await api.IssueKey(owner.Id, new { scopes = new[] { "keys:read", "keys:write" } });
        using (var own = api.Client(memberNarrow.Str("token")))
        {
            await (await own.PatchJson(Path(owner.Id, memberNarrow.Long("id")), new { scopes = new[] { "keys:read", "keys:write", "users:write" } }))
                .Expect(HttpStatusCode.Forbidden);
            await (await own.PatchJson(Path(owner.Id, memberNarrow.Long("id")), new { scopes = new[] { "keys:write" } })).Expect(HttpStatusCode.OK);
        }

        // A calling key that expires cannot push any key's expiry past its own, nor make one never expire.
        var limit = DateTimeOffset.UtcNow.AddDays(1);
        var expiring = await api.IssueKey(owner.Id, new { expires_at = limit.ToString("O") });
        using var member = api.Client(expiring.Str("token"));
        var later = await (await member.PatchJson(Path(owner.Id, owner.KeyId), new { expires_at = limit.AddDays(1).ToString("O") })).Expect(HttpStatusCode.BadRequest);
        Assert.True(later.GetProperty("errors").TryGetProperty("expires_at", out _));
        await (await member.PatchRaw(Path(owner.Id, owner.KeyId), """{"expires_at":null}""")).Expect(HttpStatusCode.BadRequest);
        await (await member.PatchJson(Path(owner.Id, owner.KeyId), new { expires_at = limit.AddHours(-1).ToString("O") })).Expect(HttpStatusCode.OK);

        var bad = await (await admin.PatchRaw(Path(owner.Id, narrow.Long("id")),
            """{"enabled":null,"scopes":["root"],"permissions":["no spaces"],"meta":"text","expires_at":"2000-01-01T00:00:00Z","name":7}"""))
            .Expect(HttpStatusCode.BadRequest);
        Assert.Equal(["enabled", "expires_at", "meta", "name", "permissions", "scopes"],
            bad.GetProperty("errors").EnumerateObject().Select(field => field.Name).Order(StringComparer.Ordinal));

        // Alone too: null is not a value of enabled (never read as false).
        var nullEnabled = await (await admin.PatchRaw(Path(owner.Id, narrow.Long("id")), """{"enabled":null}""")).Expect(HttpStatusCode.BadRequest);
        Assert.Equal("must not be null", nullEnabled.GetProperty("errors").GetProperty("enabled")[0].GetString());
    }

    [Fact]
    public async Task Patch_on_another_users_key_or_a_missing_key_is_404()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);
        using var admin = api.Admin();

        await (await client.PatchJson(Path(other.Id, other.KeyId), new { enabled = false })).Expect(HttpStatusCode.NotFound);
        await (await client.PatchJson(Path(member.Id, other.KeyId), new { enabled = false })).Expect(HttpStatusCode.NotFound);
        await (await admin.PatchJson(Path(member.Id, long.MaxValue), new { name = "x" })).Expect(HttpStatusCode.NotFound);
        await (await admin.PatchJson(Path(member.Id, long.MaxValue), new { scopes = new[] { "users:read" } })).Expect(HttpStatusCode.NotFound);
        using var otherClient = api.Client(other.Token);
        await (await otherClient.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_disabled_key_is_refused_until_enabled_again_and_verify_says_disabled()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        using var client = api.Client(owner.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // cached

        await (await admin.PatchJson(Path(owner.Id, owner.KeyId), new { enabled = false })).Expect(HttpStatusCode.OK);

        var refused = await client.GetAsync("/v1/users/me");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("disabled", refused.Headers.WwwAuthenticate.ToString());
        Assert.Equal("disabled", (await Verify(owner.Token)).Str("reason"));
        // Order: disabled comes before insufficient_permissions.
        Assert.Equal("disabled", (await Verify(owner.Token, new[] { "missing" })).Str("reason"));

        await (await admin.PatchJson(Path(owner.Id, owner.KeyId), new { enabled = true })).Expect(HttpStatusCode.OK);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.True((await Verify(owner.Token)).GetProperty("valid").GetBoolean());

        var bornDisabled = await api.IssueKey(owner.Id, new { enabled = false });
        Assert.False(bornDisabled.GetProperty("enabled").GetBoolean());
        Assert.Equal("disabled", (await Verify(bornDisabled.Str("token"))).Str("reason"));
    }

    [Fact]
    public async Task Verify_needs_every_permission_asked_for()
    {
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id, new { permissions = new[] { "billing.read", "billing.write" } });

        Assert.True((await Verify(key.Str("token"), new[] { "billing.read" })).GetProperty("valid").GetBoolean());
        Assert.True((await Verify(key.Str("token"), new[] { "billing.read", "billing.write" })).GetProperty("valid").GetBoolean());
        Assert.True((await Verify(key.Str("token"), Array.Empty<string>())).GetProperty("valid").GetBoolean());
        var refused = await Verify(key.Str("token"), new[] { "billing.read", "billing.admin" });
        Assert.False(refused.GetProperty("valid").GetBoolean());
        Assert.Equal("insufficient_permissions", refused.Str("reason"));
        Assert.False(refused.TryGetProperty("key", out _));

        using var anonymous = api.Client();
        await (await anonymous.PostJson("/v1/keys/verify", new { token = key.Str("token"), permissions = new[] { "has space" } })).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Roll_issues_a_copy_that_works_at_once_and_the_old_key_works_until_its_grace_ends()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var expires = DateTimeOffset.UtcNow.AddDays(10);
        var old = await api.IssueKey(owner.Id, new
        {
            name = "deploy", expires_at = expires.ToString("O"), scopes = new[] { "users:read", "keys:read" },
            permissions = new[] { "ci.run" }, meta = new { team = "infra" },
        });

        var before = DateTimeOffset.UtcNow;
        var response = await admin.PostJson(Path(owner.Id, old.Long("id"), "/roll"), new { grace_seconds = 3600 });
        var rolled = await response.Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));

        Assert.Equal($"/v1/users/{owner.Id}/keys/{rolled.Long("id")}", response.Headers.Location?.ToString());
        Assert.Equal(old.Long("id"), rolled.Long("rolled_from_id"));
        Assert.NotEqual(old.Str("token"), rolled.Str("token"));
        foreach (var field in new[] { "name", "expires_at", "scopes", "permissions", "meta", "enabled" })
        {
            Assert.Equal(old.GetProperty(field).GetRawText(), rolled.GetProperty(field).GetRawText());
        }

        Assert.True((await Verify(rolled.Str("token"))).GetProperty("valid").GetBoolean());
        Assert.True((await Verify(old.Str("token"))).GetProperty("valid").GetBoolean());
        var oldNow = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == old.Long("id"));
        var graceEnd = DateTimeOffset.Parse(oldNow.Str("expires_at"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(graceEnd, before.AddSeconds(3600 - 5), DateTimeOffset.UtcNow.AddSeconds(3600 + 5));

        // Rolled once: again is 409; the new key rolls.
        var again = await (await admin.PostJson(Path(owner.Id, old.Long("id"), "/roll"), new { })).Expect(HttpStatusCode.Conflict);
        Assert.Contains("rolled already", again.Str("detail"));

        // Without a body, grace 0: the old key is refused as expired at once.
        var third = await (await admin.PostAsync(Path(owner.Id, rolled.Long("id"), "/roll"), null)).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(third.Str("token"));
        Assert.Equal("expired", (await Verify(rolled.Str("token"))).Str("reason"));
        Assert.True((await Verify(third.Str("token"))).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Roll_never_extends_the_old_key_and_refuses_revoked_expired_and_missing_keys()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var soon = DateTimeOffset.UtcNow.AddMinutes(10);
        var short_ = await api.IssueKey(owner.Id, new { expires_at = soon.ToString("O") });
        await (await admin.PostJson(Path(owner.Id, short_.Long("id"), "/roll"), new { grace_seconds = 604800 })).Expect(HttpStatusCode.Created);
        var kept = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(item => item.Long("id") == short_.Long("id"));
        Assert.Equal(short_.Str("expires_at"), kept.Str("expires_at"));

        var revoked = await api.IssueKey(owner.Id);
        await (await admin.PostAsync(Path(owner.Id, revoked.Long("id"), "/revoke"), null)).Expect(HttpStatusCode.OK);
        Assert.Contains("revoked", (await (await admin.PostJson(Path(owner.Id, revoked.Long("id"), "/roll"), new { })).Expect(HttpStatusCode.Conflict)).Str("detail"));

        var expired = await api.IssueKey(owner.Id);
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, Testing.TestSql.Get("expire_key_directly"), new { id = expired.Long("id") });
        }

        Assert.Contains("expired", (await (await admin.PostJson(Path(owner.Id, expired.Long("id"), "/roll"), new { })).Expect(HttpStatusCode.Conflict)).Str("detail"));
        await (await admin.PostJson(Path(owner.Id, long.MaxValue, "/roll"), new { })).Expect(HttpStatusCode.NotFound);
        var other = await api.CreateUserWithKey();
        using var member = api.Client(owner.Token);
        await (await member.PostJson(Path(other.Id, other.KeyId, "/roll"), new { })).Expect(HttpStatusCode.NotFound);

        foreach (var body in new[] { """{"grace_seconds":-1}""", """{"grace_seconds":604801}""", """{"grace_seconds":"60"}""", "[]" })
        {
            await (await admin.PostRaw(Path(owner.Id, owner.KeyId, "/roll"), body)).Expect(HttpStatusCode.BadRequest);
        }

        await (await member.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_key_cannot_roll_a_key_into_scopes_it_lacks_nor_past_its_own_expiry()
    {
        var owner = await api.CreateUserWithKey();
        var wide = await api.IssueKey(owner.Id);
        var limit = DateTimeOffset.UtcNow.AddDays(1);
        var narrow = await api.IssueKey(owner.Id, new { scopes = new[] { "keys:read", "keys:write" }, expires_at = limit.ToString("O") });
        using var client = api.Client(narrow.Str("token"));

        await (await client.PostJson(Path(owner.Id, wide.Long("id"), "/roll"), new { })).Expect(HttpStatusCode.Forbidden);
        // Nothing of the refused roll was written: the key still rolls.
        var noExpiry = await api.IssueKey(owner.Id, new { scopes = new[] { "keys:read" } });
        var rolled = await (await client.PostJson(Path(owner.Id, noExpiry.Long("id"), "/roll"), new { })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));
        Assert.Equal(limit.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff+00:00"), rolled.Str("expires_at"));
        Assert.True((await Verify(wide.Str("token"))).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Ten_concurrent_rolls_of_one_key_give_one_201_and_nine_409s()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var key = await api.IssueKey(owner.Id);
        using var start = new SemaphoreSlim(0);
        var rolls = Enumerable.Range(0, 10).Select(async _ =>
        {
            using var client = api.Admin();
            await start.WaitAsync();
            var response = await client.PostJson(Path(owner.Id, key.Long("id"), "/roll"), new { grace_seconds = 60 });
            if (response.StatusCode == HttpStatusCode.Created)
            {
                api.IssuedTokens.Add((await response.Json()).Str("token"));
            }

            return response.StatusCode;
        }).ToList();
        start.Release(10);
        var statuses = await Task.WhenAll(rolls);

        Assert.Equal(1, statuses.Count(status => status == HttpStatusCode.Created));
        Assert.Equal(9, statuses.Count(status => status == HttpStatusCode.Conflict));
        var keys = (await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK)).GetProperty("items");
        Assert.Single(keys.EnumerateArray(), item => item.GetProperty("rolled_from_id").ValueKind == JsonValueKind.Number);
    }
}
