using System.Net;
using System.Text.RegularExpressions;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

public sealed partial class KeyEndpointTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [GeneratedRegex("^uk_[0-9A-Za-z]{49}$")]
    private static partial Regex TokenFormat();

    [Fact]
    public async Task Create_returns_201_the_key_its_location_and_a_token_that_authenticates()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var expires = DateTimeOffset.UtcNow.AddDays(30);

        var response = await admin.PostJson($"/v1/users/{owner.Id}/keys", new { name = "deploy", expires_at = expires.ToString("O") });

        var key = await response.Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(key.Str("token"));
        Assert.Equal($"/v1/users/{owner.Id}/keys/{key.Long("id")}", response.Headers.Location?.ToString());
        Assert.Equal(owner.Id, key.Long("user_id"));
        Assert.Equal("deploy", key.Str("name"));
        Assert.Matches(TokenFormat(), key.Str("token"));
        Assert.StartsWith(key.Str("prefix"), key.Str("token"));
        Assert.True(key.Str("prefix").Length >= 8);
        Assert.Equal(expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff+00:00"), key.Str("expires_at"));
        Assert.True(key.IsNull("revoked_at"));
        Assert.True(key.IsNull("last_used_at"));

        using var client = api.Client(key.Str("token"));
        var me = await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.Equal(owner.Id, me.Long("id"));
    }

    [Fact]
    public async Task A_member_issues_keys_for_itself_only()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        var own = await (await client.PostJson($"/v1/users/{member.Id}/keys", new { })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(own.Str("token"));
        Assert.True(own.IsNull("name"));
        await (await client.PostJson($"/v1/users/{other.Id}/keys", new { })).Expect(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("""{"expires_at":"2000-01-01T00:00:00Z"}""")]
    [InlineData("""{"expires_at":"2099-01-01T00:00:00"}""")]
    [InlineData("""{"expires_at":"tomorrow"}""")]
    [InlineData("""{"expires_at":12345}""")]
    [InlineData("""{"name":12}""")]
    [InlineData("""{"name":"a\u0000b"}""")]
    public async Task Invalid_key_fields_are_400(string body)
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        await (await admin.PostRaw($"/v1/users/{owner.Id}/keys", body)).Expect(HttpStatusCode.BadRequest);
        var keys = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK);
        Assert.Single(keys.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task Create_for_a_missing_user_is_404()
    {
        using var admin = api.Admin();
        await (await admin.PostJson($"/v1/users/{long.MaxValue}/keys", new { name = "x" })).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task List_shows_keys_without_tokens_newest_first()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();
        var second = await api.IssueKey(owner.Id, new { name = "second" });

        var keys = await (await admin.GetAsync($"/v1/users/{owner.Id}/keys")).Expect(HttpStatusCode.OK);

        var items = keys.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal([second.Long("id"), owner.KeyId], items.Select(key => key.Long("id")));
        Assert.All(items, key => Assert.False(key.TryGetProperty("token", out _)));
        Assert.True(keys.GetProperty("next_cursor").ValueKind == System.Text.Json.JsonValueKind.Null);
        Assert.DoesNotContain(owner.Token, keys.GetRawText());
        await (await admin.GetAsync($"/v1/users/{long.MaxValue}/keys")).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Revoke_is_idempotent_and_the_key_stops_working_at_once()
    {
        var member = await api.CreateUserWithKey();
        var spare = await api.IssueKey(member.Id);
        using var client = api.Client(spare.Str("token"));
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        var first = await (await client.PostAsync($"/v1/users/{member.Id}/keys/{spare.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        Assert.False(first.IsNull("revoked_at"));

        var refused = await client.GetAsync("/v1/users/me");
        await refused.Expect(HttpStatusCode.Unauthorized);
        Assert.Contains("Bearer", refused.Headers.WwwAuthenticate.ToString());

        using var owner = api.Client(member.Token);
        var again = await (await owner.PostAsync($"/v1/users/{member.Id}/keys/{spare.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
        Assert.Equal(first.Str("revoked_at"), again.Str("revoked_at"));
        var verdict = await (await api.Client().PostJson("/v1/keys/verify", new { token = spare.Str("token") })).Expect(HttpStatusCode.OK);
        Assert.Equal("revoked", verdict.Str("reason"));
    }

    [Fact]
    public async Task Revoke_and_delete_of_another_users_key_are_404_and_change_nothing()
    {
        var owner = await api.CreateUserWithKey();
        var stranger = await api.CreateUserWithKey();
        using var client = api.Client(stranger.Token);

        await (await client.PostAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}/revoke", null)).Expect(HttpStatusCode.NotFound);
        await (await client.PostAsync($"/v1/users/{stranger.Id}/keys/{owner.KeyId}/revoke", null)).Expect(HttpStatusCode.NotFound);
        await (await client.DeleteAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}")).Expect(HttpStatusCode.NotFound);
        await (await client.DeleteAsync($"/v1/users/{stranger.Id}/keys/{owner.KeyId}")).Expect(HttpStatusCode.NotFound);

        using var ownerClient = api.Client(owner.Token);
        await (await ownerClient.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Delete_removes_the_key()
    {
        using var admin = api.Admin();
        var owner = await api.CreateUserWithKey();

        await (await admin.DeleteAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}")).Expect(HttpStatusCode.NoContent);

        await (await admin.DeleteAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}")).Expect(HttpStatusCode.NotFound);
        await (await admin.PostAsync($"/v1/users/{owner.Id}/keys/{owner.KeyId}/revoke", null)).Expect(HttpStatusCode.NotFound);
        var verdict = await (await api.Client().PostJson("/v1/keys/verify", new { token = owner.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("not_found", verdict.Str("reason"));
    }

    [Fact]
    public async Task Using_a_key_records_last_used_at_within_a_second_or_so()
    {
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);

        // Written off the request path, every second (LastUseRecorder): waited for, not assumed.
        var (lastUsed, elapsed) = await Poll.UntilAsync(async () =>
        {
            var keys = await (await client.GetAsync($"/v1/users/{member.Id}/keys")).Expect(HttpStatusCode.OK);
            var key = keys.GetProperty("items").EnumerateArray().Single(item => item.Long("id") == member.KeyId);
            return key.IsNull("last_used_at") ? null : key.Str("last_used_at");
        }, value => value is not null, TimeSpan.FromSeconds(10));

        Assert.NotNull(lastUsed);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"last_used_at was still null after {elapsed}");
    }
}
