using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// What an admin imposes on a key, its holder cannot undo; a holder may only narrow. Each test plays a hostile member
/// acting on its own keys with its own key as bearer token, and checks the outcome (what verify grants), not only the status.
/// </summary>
public sealed class HolderBindingTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private const long Day = 86_400_000;

    private static string Keys(long userId, string rest = "") => $"/v1/users/{userId}/keys{rest}";

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>Now plus <paramref name="days"/>, to the whole second (so that what the service stores compares exactly).</summary>
    private static DateTimeOffset InDays(double days)
    {
        var at = DateTimeOffset.UtcNow.AddDays(days);
        return new DateTimeOffset(at.Ticks - at.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
    }

    private static DateTimeOffset At(JsonElement key) => DateTimeOffset.Parse(key.Str("expires_at"), CultureInfo.InvariantCulture);

    private static string[] Strings(JsonElement element, string property) =>
        element.GetProperty(property).EnumerateArray().Select(item => item.GetString()!).ToArray();

    private static bool Valid(JsonElement answer) => answer.GetProperty("valid").GetBoolean();

    private async Task<JsonElement> Verify(string token, object? permissions = null)
    {
        using var anonymous = api.Client();
        var body = permissions is null ? (object)new { token } : new { token, permissions };
        return await (await anonymous.PostJson("/v1/keys/verify", body)).Expect(HttpStatusCode.OK);
    }

    /// <summary>Verifies each token in turn, <paramref name="rounds"/> times over; the valid answers and the refusals' reasons.</summary>
    private async Task<(int Valid, List<string> Refusals)> VerifyRoundRobin(IReadOnlyList<string> tokens, int rounds)
    {
        var valid = 0;
        var refusals = new List<string>();
        for (var round = 0; round < rounds; round++)
        {
            foreach (var token in tokens)
            {
                var answer = await Verify(token);
                if (Valid(answer))
                {
                    valid++;
                }
                else
                {
                    refusals.Add(answer.Str("reason"));
                }
            }
        }

        return (valid, refusals);
    }

    /// <summary>Creates a key through <paramref name="client"/> (a holder's key or an admin's) and registers its token.</summary>
    private async Task<JsonElement> Create(HttpClient client, long userId, object body)
    {
        var key = await (await client.PostJson(Keys(userId), body)).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(key.Str("token"));
        return key;
    }

    private async Task<JsonElement> Roll(HttpClient client, long userId, long keyId, int graceSeconds)
    {
        var rolled = await (await client.PostJson(Keys(userId, $"/{keyId}/roll"), new { grace_seconds = graceSeconds })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(rolled.Str("token"));
        return rolled;
    }

    /// <summary>The user's keys as the admin lists them.</summary>
    private async Task<List<JsonElement>> KeysOf(long userId)
    {
        using var admin = api.Admin();
        return (await (await admin.GetAsync(Keys(userId))).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
    }

    private async Task<JsonElement> Key(long userId, long keyId) => (await KeysOf(userId)).Single(item => item.Long("id") == keyId);

    [Fact]
    public async Task A_holder_cannot_grant_permissions_its_key_lacks_by_create_patch_or_roll()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { permissions = new[] { "billing.read" } });
        using var holder = api.Client(k.Str("token"));
        var before = (await KeysOf(member.Id)).Count;

        var widened = await (await holder.PostJson(Keys(member.Id), new { permissions = new[] { "billing.write", "*" } })).Expect(HttpStatusCode.Forbidden);
        Assert.Contains("billing.write", widened.Str("detail"));
        Assert.Equal(before, (await KeysOf(member.Id)).Count);

        var inherited = await Create(holder, member.Id, new { name = "derived" });
        Assert.Equal(["billing.read"], Strings(inherited, "permissions"));
        Assert.Equal(["billing.read"], Strings(await Key(member.Id, inherited.Long("id")), "permissions"));

        await (await holder.PatchJson(Keys(member.Id, $"/{k.Long("id")}"), new { permissions = new[] { "billing.write" } })).Expect(HttpStatusCode.Forbidden);
        var refused = await Verify(k.Str("token"), new[] { "billing.write" });
        Assert.False(Valid(refused));
        Assert.Equal("insufficient_permissions", refused.Str("reason"));
        Assert.True(Valid(await Verify(k.Str("token"), new[] { "billing.read" })));

        // A wildcard covers what it names, nothing else.
        var wildcard = await api.IssueKey(member.Id, new { permissions = new[] { "invoices:*" } });
        using (var invoices = api.Client(wildcard.Str("token")))
        {
            var narrowed = await Create(invoices, member.Id, new { permissions = new[] { "invoices:read" } });
            Assert.Equal(["invoices:read"], Strings(narrowed, "permissions"));
            Assert.True(Valid(await Verify(narrowed.Str("token"), new[] { "invoices:read" })));
            await (await invoices.PostJson(Keys(member.Id), new { permissions = new[] { "billing.read" } })).Expect(HttpStatusCode.Forbidden);
        }

        // Rolling copies the permissions: a caller lacking one of them cannot roll the key.
        var c = await api.IssueKey(member.Id, new { permissions = new[] { "a" } });
        var x = await api.IssueKey(member.Id, new { permissions = new[] { "a", "b" } });
        var count = (await KeysOf(member.Id)).Count;
        using var narrow = api.Client(c.Str("token"));
        await (await narrow.PostJson(Keys(member.Id, $"/{x.Long("id")}/roll"), new { grace_seconds = 60 })).Expect(HttpStatusCode.Forbidden);
        Assert.Equal(count, (await KeysOf(member.Id)).Count);
        Assert.True(Valid(await Verify(x.Str("token"), new[] { "a", "b" })));
    }

    [Fact]
    public async Task A_holder_cannot_set_or_change_meta_and_its_derived_keys_inherit_the_admins_meta()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { meta = new { plan = "pro" } });
        using var holder = api.Client(k.Str("token"));
        using var own = api.Client(member.Token);
        var before = (await KeysOf(member.Id)).Count;

        foreach (var client in new[] { holder, own })
        {
            await (await client.PostJson(Keys(member.Id), new { meta = new { plan = "enterprise" } })).Expect(HttpStatusCode.Forbidden);
            await (await client.PostRaw(Keys(member.Id), """{"meta":null}""")).Expect(HttpStatusCode.Forbidden);
            await (await client.PatchRaw(Keys(member.Id, $"/{member.KeyId}"), """{"meta":null}""")).Expect(HttpStatusCode.Forbidden);
        }

        Assert.Equal(before, (await KeysOf(member.Id)).Count);

        var derived = await Create(holder, member.Id, new { name = "derived" });
        Assert.Equal("pro", derived.GetProperty("meta").Str("plan"));
        var verified = await Verify(derived.Str("token"));
        Assert.True(Valid(verified));
        Assert.Equal("pro", verified.GetProperty("key").GetProperty("meta").Str("plan"));

        await (await holder.PatchJson(Keys(member.Id, $"/{k.Long("id")}"), new { meta = new { plan = "enterprise" } })).Expect(HttpStatusCode.Forbidden);
        await (await holder.PatchJson(Keys(member.Id, $"/{derived.Long("id")}"), new { meta = new { plan = "enterprise" } })).Expect(HttpStatusCode.Forbidden);
        Assert.Equal("pro", (await Verify(k.Str("token"))).GetProperty("key").GetProperty("meta").Str("plan"));
        Assert.Equal("pro", (await Verify(derived.Str("token"))).GetProperty("key").GetProperty("meta").Str("plan"));
    }

    [Fact]
    public async Task Keys_derived_or_rolled_from_a_key_with_credits_share_its_budget_and_never_grant_more_in_total()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { remaining = 3 });
        using var holder = api.Client(k.Str("token"));
        var k2 = await Create(holder, member.Id, new { name = "k2" });
        var k3 = await Create(holder, member.Id, new { name = "k3" });
        using (var second = api.Client(k2.Str("token")))
        {
            var k4 = await Create(second, member.Id, new { name = "k4" });
            foreach (var derived in new[] { k2, k3, k4 })
            {
                var shown = await Key(member.Id, derived.Long("id"));
                Assert.Equal(3, shown.Long("remaining"));
                Assert.Equal(k.Long("id"), shown.Long("budget_key_id"));
            }

            var k5 = await Roll(holder, member.Id, k.Long("id"), 3600);

            var (valid, refusals) = await VerifyRoundRobin([k.Str("token"), k2.Str("token"), k3.Str("token"), k4.Str("token"), k5.Str("token")], 5);

            Assert.Equal(3, valid);
            Assert.Equal(22, refusals.Count);
            Assert.All(refusals, reason => Assert.Equal("usage_exceeded", reason));
        }
    }

    [Fact]
    public async Task Keys_derived_or_rolled_from_a_rate_limited_key_share_its_limit()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { rate_limits = new[] { new { name = "day", limit = 5, duration_ms = Day } } });
        using var holder = api.Client(k.Str("token"));
        var tokens = new List<string> { k.Str("token") };
        for (var i = 0; i < 3; i++)
        {
            tokens.Add((await Create(holder, member.Id, new { name = $"derived-{i}" })).Str("token"));
        }

        tokens.Add((await Roll(holder, member.Id, k.Long("id"), 3600)).Str("token"));

        var (valid, refusals) = await VerifyRoundRobin(tokens, 5);

        Assert.InRange(valid, 1, 5);
        Assert.Equal(25 - valid, refusals.Count);
        Assert.All(refusals, reason => Assert.Equal("rate_limited", reason));
    }

    [Fact]
    public async Task Deleting_the_root_key_does_not_free_the_keys_derived_from_it()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { remaining = 2 });
        using var holder = api.Client(k.Str("token"));
        var k2 = await Create(holder, member.Id, new { name = "k2" });
        Assert.True(Valid(await Verify(k2.Str("token"))));

        using var second = api.Client(k2.Str("token"));
        await (await second.DeleteAsync(Keys(member.Id, $"/{k.Long("id")}"))).Expect(HttpStatusCode.NoContent);

        var after = new List<JsonElement>();
        for (var i = 0; i < 3; i++)
        {
            after.Add(await Verify(k2.Str("token")));
        }

        Assert.True(Valid(after[0]));
        Assert.All(after.Skip(1), answer => Assert.Equal("usage_exceeded", answer.Str("reason")));
    }

    [Fact]
    public async Task A_key_an_admin_issues_to_the_holder_has_a_budget_of_its_own()
    {
        var member = await api.CreateUserWithKey();
        var k = await api.IssueKey(member.Id, new { remaining = 2 });
        using var holder = api.Client(k.Str("token"));
        var derived = await Create(holder, member.Id, new { name = "derived" });

        var own = await api.IssueKey(member.Id, new { remaining = 5 });

        Assert.Equal(5, own.Long("remaining"));
        var shown = await Key(member.Id, own.Long("id"));
        Assert.Equal(5, shown.Long("remaining"));
        // Not derived: no budget of another key (null, or at most its own).
        Assert.True(shown.IsNull("budget_key_id") || shown.Long("budget_key_id") == own.Long("id"), shown.GetRawText());
        var (sharedValid, _) = await VerifyRoundRobin([k.Str("token"), derived.Str("token")], 3);
        var (ownValid, ownRefusals) = await VerifyRoundRobin([own.Str("token")], 6);
        Assert.Equal(2, sharedValid);
        Assert.Equal(5, ownValid);
        Assert.Equal(["usage_exceeded"], ownRefusals);
    }

    [Fact]
    public async Task An_admins_user_budget_caps_all_the_users_keys_together_and_the_member_cannot_change_it()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();

        var patched = await (await admin.PatchJson($"/v1/users/{member.Id}", new { remaining = 4 })).Expect(HttpStatusCode.OK);
        var shown = await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK);
        foreach (var user in new[] { patched, shown })
        {
            Assert.Equal(4, user.Long("remaining"));
            Assert.True(user.IsNull("refill"));
            Assert.True(user.IsNull("refilled_at"));
            Assert.Empty(user.GetProperty("rate_limits").EnumerateArray());
        }

        using (var own = api.Client(member.Token))
        {
            await (await own.PatchJson($"/v1/users/{member.Id}", new { remaining = 100 })).Expect(HttpStatusCode.Forbidden);
            await (await own.PatchJson($"/v1/users/{member.Id}", new { rate_limits = new[] { new { name = "day", limit = 1000, duration_ms = Day } } }))
                .Expect(HttpStatusCode.Forbidden);
        }

        Assert.Equal(4, (await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK)).Long("remaining"));

        var a = await api.IssueKey(member.Id);
        var b = await api.IssueKey(member.Id);
        var (valid, refusals) = await VerifyRoundRobin([a.Str("token"), b.Str("token")], 5);

        Assert.Equal(4, valid);
        Assert.Equal(6, refusals.Count);
        Assert.All(refusals, reason => Assert.Equal("usage_exceeded", reason));

        // Usage is written in batches (every 5 s): wait for the counts, bounded.
        async Task<(long Valid, long Exceeded)> Usage()
        {
            long validCount = 0, exceeded = 0;
            foreach (var key in new[] { a, b })
            {
                var usage = await (await admin.GetAsync(Keys(member.Id, $"/{key.Long("id")}/usage"))).Expect(HttpStatusCode.OK);
                validCount += usage.GetProperty("items").EnumerateArray().Sum(item => item.Long("valid"));
                exceeded += usage.GetProperty("items").EnumerateArray().Sum(item => item.Long("usage_exceeded"));
            }

            return (validCount, exceeded);
        }

        var counted = await Poll.UntilAsync(Usage, usage => usage.Valid >= 4 && usage.Exceeded >= 6, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(250));
        Assert.Equal((4L, 6L), counted.Value);
    }

    [Fact]
    public async Task An_admins_user_rate_limit_caps_all_the_users_keys_together()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var limits = await (await admin.PatchJson($"/v1/users/{member.Id}", new { rate_limits = new[] { new { name = "day", limit = 3, duration_ms = Day } } }))
            .Expect(HttpStatusCode.OK);
        Assert.Equal(3, limits.GetProperty("rate_limits")[0].Long("limit"));
        var tokens = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            tokens.Add((await api.IssueKey(member.Id)).Str("token"));
        }

        var (valid, refusals) = await VerifyRoundRobin(tokens, 4);

        Assert.InRange(valid, 1, 3);
        Assert.Equal(12 - valid, refusals.Count);
        Assert.All(refusals, reason => Assert.Equal("rate_limited", reason));
    }

    [Fact]
    public async Task A_user_created_or_provisioned_with_remaining_shows_it_and_is_held_to_it()
    {
        using var admin = api.Admin();

        var created = await (await admin.PostJson("/v1/users", new { email = Http.Email("budget"), remaining = 2 })).Expect(HttpStatusCode.Created);
        Assert.Equal(2, created.Long("remaining"));
        Assert.Equal(2, (await (await admin.GetAsync($"/v1/users/{created.Long("id")}")).Expect(HttpStatusCode.OK)).Long("remaining"));

        var provisioned = await (await admin.PostJson("/v1/provision", new { email = Http.Email("budget-p"), remaining = 2 })).Expect(HttpStatusCode.Created);
        var token = provisioned.GetProperty("key").Str("token");
        api.IssuedTokens.Add(token);
        Assert.Equal(2, provisioned.GetProperty("user").Long("remaining"));

        var (valid, refusals) = await VerifyRoundRobin([token], 4);
        Assert.Equal(2, valid);
        Assert.Equal(["usage_exceeded", "usage_exceeded"], refusals);
    }

    [Fact]
    public async Task A_key_an_admin_disabled_stays_disabled_until_an_admin_enables_it()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var x = await api.IssueKey(member.Id, new { name = "x" });
        var y = await api.IssueKey(member.Id, new { name = "y" });
        using var holder = api.Client(member.Token);

        await (await admin.PatchJson(Keys(member.Id, $"/{x.Long("id")}"), new { enabled = false })).Expect(HttpStatusCode.OK);
        await (await holder.PatchJson(Keys(member.Id, $"/{x.Long("id")}"), new { enabled = true })).Expect(HttpStatusCode.Forbidden);
        Assert.Equal("disabled", (await Verify(x.Str("token"))).Str("reason"));
        Assert.False((await Key(member.Id, x.Long("id"))).GetProperty("enabled").GetBoolean());

        // What the holder disabled itself, it may enable again.
        await (await holder.PatchJson(Keys(member.Id, $"/{y.Long("id")}"), new { enabled = false })).Expect(HttpStatusCode.OK);
        Assert.Equal("disabled", (await Verify(y.Str("token"))).Str("reason"));
        await (await holder.PatchJson(Keys(member.Id, $"/{y.Long("id")}"), new { enabled = true })).Expect(HttpStatusCode.OK);
        Assert.True(Valid(await Verify(y.Str("token"))));

        await (await admin.PatchJson(Keys(member.Id, $"/{x.Long("id")}"), new { enabled = true })).Expect(HttpStatusCode.OK);
        Assert.True(Valid(await Verify(x.Str("token"))));
    }

    [Fact]
    public async Task A_holder_may_only_shorten_an_expiry_and_nobody_changes_a_rolled_keys_expiry()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var x = await api.IssueKey(member.Id, new { expires_at = Iso(InDays(10)) });
        var path = Keys(member.Id, $"/{x.Long("id")}");
        using var holder = api.Client(member.Token);

        await (await holder.PatchJson(path, new { expires_at = Iso(InDays(20)) })).Expect(HttpStatusCode.Forbidden);
        await (await holder.PatchRaw(path, """{"expires_at":null}""")).Expect(HttpStatusCode.Forbidden);
        Assert.Equal(At(x), At(await Key(member.Id, x.Long("id"))));

        var shorter = InDays(5);
        Assert.Equal(shorter, At(await (await holder.PatchJson(path, new { expires_at = Iso(shorter) })).Expect(HttpStatusCode.OK)));
        Assert.Equal(shorter, At(await Key(member.Id, x.Long("id"))));

        // Rolled: the old key's expiry is the end of its grace, and stays so for the holder and the admin alike.
        var rolled = await Roll(holder, member.Id, x.Long("id"), 600);
        Assert.Equal(shorter, At(rolled));
        var graceEnd = At(await Key(member.Id, x.Long("id")));
        await (await holder.PatchJson(path, new { expires_at = Iso(DateTimeOffset.UtcNow.AddMinutes(1)) })).Expect(HttpStatusCode.Conflict);
        await (await admin.PatchJson(path, new { expires_at = Iso(InDays(1)) })).Expect(HttpStatusCode.Conflict);
        await (await admin.PatchRaw(path, """{"expires_at":null}""")).Expect(HttpStatusCode.Conflict);
        Assert.Equal(graceEnd, At(await Key(member.Id, x.Long("id"))));
        Assert.True(Valid(await Verify(x.Str("token"))));
    }

    [Fact]
    public async Task A_holder_cannot_revive_an_expired_key()
    {
        var member = await api.CreateUserWithKey();
        var z = await api.IssueKey(member.Id, new { name = "z" });
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("expire_key_directly"), new { id = z.Long("id") });
        }

        var expired = await Poll.UntilAsync(async () => (await Verify(z.Str("token"))).GetRawText(), text => text.Contains("\"expired\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(5));
        Assert.Contains("\"expired\"", expired.Value, StringComparison.Ordinal);

        using var holder = api.Client(member.Token);
        await (await holder.PatchJson(Keys(member.Id, $"/{z.Long("id")}"), new { expires_at = Iso(InDays(1)) })).Expect(HttpStatusCode.Forbidden);
        Assert.Equal("expired", (await Verify(z.Str("token"))).Str("reason"));
    }

    [Fact]
    public async Task Changing_a_role_needs_an_admin_key_with_every_scope()
    {
        using var admin = api.Admin();
        var adminId = (await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Long("id");
        var member = await api.CreateUserWithKey();
        var writeOnly = await api.IssueKey(adminId, new { name = "users-write", scopes = new[] { "users:write" } });
        var readWrite = await api.IssueKey(adminId, new { name = "users-rw", scopes = new[] { "users:read", "users:write" } });
        var provisioner = await api.IssueKey(adminId, new { name = "provisioner", scopes = new[] { "users:write", "keys:write" } });

        foreach (var scoped in new[] { writeOnly, readWrite })
        {
            using var client = api.Client(scoped.Str("token"));
            await (await client.PatchJson($"/v1/users/{member.Id}", new { role = "admin" })).Expect(HttpStatusCode.Forbidden);
            Assert.Equal("member", (await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK)).Str("role"));
            Assert.Equal("member", (await Verify(member.Token)).GetProperty("user").Str("role"));

            var email = Http.Email("would-be-admin");
            await (await client.PostJson("/v1/users", new { email, role = "admin" })).Expect(HttpStatusCode.Forbidden);
            Assert.Empty((await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(email)}")).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
            Assert.Equal("member", (await (await client.PostJson("/v1/users", new { email = Http.Email("plain") })).Expect(HttpStatusCode.Created)).Str("role"));
        }

        using (var client = api.Client(provisioner.Str("token")))
        {
            var email = Http.Email("provision-role");
            await (await client.PostJson("/v1/provision", new { email, role = "member" })).Expect(HttpStatusCode.Forbidden);
            Assert.Empty((await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(email)}")).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
            var provisioned = await (await client.PostJson("/v1/provision", new { email })).Expect(HttpStatusCode.Created);
            api.IssuedTokens.Add(provisioned.GetProperty("key").Str("token"));
            Assert.Equal("member", provisioned.GetProperty("user").Str("role"));
        }

        Assert.Equal("admin", (await (await admin.PatchJson($"/v1/users/{member.Id}", new { role = "admin" })).Expect(HttpStatusCode.OK)).Str("role"));
        Assert.Equal("admin", (await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK)).Str("role"));
    }
}
