using System.Globalization;
using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>
/// What an admin imposes on a key later still binds the keys its holder derived from it before, and a holder cannot use
/// one of its keys to widen another: the hostile member of <see cref="HolderBindingTests"/>, a step further.
/// </summary>
public sealed class HolderLineageTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static string Keys(long userId, string rest = "") => $"/v1/users/{userId}/keys{rest}";

    private static string InDays(double days) =>
        DateTimeOffset.UtcNow.AddDays(days).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private async Task<JsonElement> Verify(string token, params string[] permissions)
    {
        using var anonymous = api.Client();
        return await (await anonymous.PostJson("/v1/keys/verify", new { token, permissions })).Expect(HttpStatusCode.OK);
    }

    private static string Verdict(JsonElement answer) => answer.GetProperty("valid").GetBoolean() ? "valid" : answer.Str("reason");

    private async Task<JsonElement> Derive(string token, long userId, object? body = null)
    {
        using var holder = api.Client(token);
        var key = await (await holder.PostJson(Keys(userId), body ?? new { })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(key.Str("token"));
        return key;
    }

    private async Task<JsonElement> KeyOf(long userId, long keyId)
    {
        using var admin = api.Admin();
        return (await (await admin.GetAsync(Keys(userId))).Expect(HttpStatusCode.OK)).GetProperty("items").EnumerateArray()
            .Single(item => item.Long("id") == keyId);
    }

    [Fact]
    public async Task What_an_admin_imposes_later_on_a_key_reaches_every_key_its_holder_derived_from_it()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var root = await api.IssueKey(member.Id, new { permissions = new[] { "a", "b" }, meta = new { plan = "pro" }, expires_at = InDays(10) });
        var child = await Derive(root.Str("token"), member.Id);
        var grandchild = await Derive(child.Str("token"), member.Id);

        // Disabled by an admin: the derived keys are refused too, and the holder cannot enable them.
        await (await admin.PatchJson(Keys(member.Id, $"/{root.Long("id")}"), new { enabled = false })).Expect(HttpStatusCode.OK);
        Assert.Equal("disabled", Verdict(await Verify(child.Str("token"))));
        Assert.Equal("disabled", Verdict(await Verify(grandchild.Str("token"))));
        using (var holder = api.Client(member.Token))
        {
            await (await holder.PatchJson(Keys(member.Id, $"/{child.Long("id")}"), new { enabled = true })).Expect(HttpStatusCode.Forbidden);
        }

        Assert.Equal("disabled", Verdict(await Verify(child.Str("token"))));

        // Narrowed, shortened and given new meta by an admin: so are the derived keys.
        var until = InDays(2);
        await (await admin.PatchJson(Keys(member.Id, $"/{root.Long("id")}"), new { permissions = new[] { "a" }, meta = new { plan = "basic" }, expires_at = until }))
            .Expect(HttpStatusCode.OK);
        await (await admin.PatchJson(Keys(member.Id, $"/{grandchild.Long("id")}"), new { enabled = true })).Expect(HttpStatusCode.OK);
        var shown = await KeyOf(member.Id, grandchild.Long("id"));
        Assert.Equal(["a"], shown.GetProperty("permissions").EnumerateArray().Select(item => item.GetString()));
        Assert.Equal("basic", shown.GetProperty("meta").Str("plan"));
        Assert.True(DateTimeOffset.Parse(shown.Str("expires_at"), CultureInfo.InvariantCulture)
            <= DateTimeOffset.Parse(until, CultureInfo.InvariantCulture));
        Assert.Equal("valid", Verdict(await Verify(grandchild.Str("token"), "a")));
        Assert.Equal("insufficient_permissions", Verdict(await Verify(grandchild.Str("token"), "b")));

        // Revoked by an admin: so is every key derived from it.
        await (await admin.PostAsync(Keys(member.Id, $"/{root.Long("id")}/revoke"), null)).Expect(HttpStatusCode.OK);
        Assert.Equal("revoked", Verdict(await Verify(child.Str("token"))));
        Assert.Equal("revoked", Verdict(await Verify(grandchild.Str("token"))));
    }

    [Fact]
    public async Task A_holder_cannot_widen_a_keys_permissions_with_another_of_its_keys()
    {
        var member = await api.CreateUserWithKey();
        var reports = await api.IssueKey(member.Id, new { permissions = new[] { "reports:read" }, remaining = 1_000_000 });
        var payments = await api.IssueKey(member.Id, new { permissions = new[] { "payments:write" }, remaining = 10 });
        using var holder = api.Client(payments.Str("token"));

        var refused = await (await holder.PatchJson(Keys(member.Id, $"/{reports.Long("id")}"), new { permissions = new[] { "payments:write" } }))
            .Expect(HttpStatusCode.Forbidden);

        Assert.Contains("payments:write", refused.Str("detail"), StringComparison.Ordinal);
        Assert.Equal("insufficient_permissions", Verdict(await Verify(reports.Str("token"), "payments:write")));
        Assert.Equal(["reports:read"], (await KeyOf(member.Id, reports.Long("id"))).GetProperty("permissions").EnumerateArray().Select(item => item.GetString()));
        // Narrowing stays allowed.
        await (await api.Client(reports.Str("token")).PatchJson(Keys(member.Id, $"/{reports.Long("id")}"), new { permissions = Array.Empty<string>() }))
            .Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_deleted_budgets_rate_limit_window_passes_to_its_heir_with_what_it_used()
    {
        var member = await api.CreateUserWithKey();
        var root = await api.IssueKey(member.Id, new { rate_limits = new[] { new { name = "day", limit = 5, duration_ms = 86_400_000 } } });
        var child = await Derive(root.Str("token"), member.Id);
        var valid = 0;
        for (var i = 0; i < 3; i++)
        {
            valid += Verdict(await Verify(child.Str("token"))) == "valid" ? 1 : 0;
        }

        using (var holder = api.Client(child.Str("token")))
        {
            await (await holder.DeleteAsync(Keys(member.Id, $"/{root.Long("id")}"))).Expect(HttpStatusCode.NoContent);
        }

        var after = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            after.Add(Verdict(await Verify(child.Str("token"))));
        }

        Assert.Equal(3, valid);
        Assert.InRange(after.Count(verdict => verdict == "valid"), 1, 2);
        Assert.All(after.Where(verdict => verdict != "valid"), verdict => Assert.Equal("rate_limited", verdict));
        Assert.Equal(child.Long("id"), (await KeyOf(member.Id, child.Long("id"))).Long("budget_key_id"));
    }
}
