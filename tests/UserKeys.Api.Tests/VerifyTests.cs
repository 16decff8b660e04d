using System.Net;
using Dapper;
using UserKeys.Api.Auth;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Tests;

public sealed class VerifyTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task A_valid_token_returns_its_key_and_user_but_never_the_token()
    {
        var member = await api.CreateUserWithKey();
        using var anonymous = api.Client();

        var response = await anonymous.PostJson("/v1/keys/verify", new { token = member.Token });

        var verdict = await response.Expect(HttpStatusCode.OK);
        Assert.True(verdict.GetProperty("valid").GetBoolean());
        Assert.Equal(member.KeyId, verdict.GetProperty("key").Long("id"));
        Assert.Equal(member.Id, verdict.GetProperty("user").Long("id"));
        Assert.Equal(member.Email, verdict.GetProperty("user").Str("email"));
        Assert.False(verdict.TryGetProperty("reason", out _));
        Assert.False(verdict.GetProperty("key").IsNull("last_used_at"));
        Assert.DoesNotContain(member.Token, verdict.GetRawText());
    }

    [Fact]
    public async Task Unknown_tokens_are_not_found_and_bad_ones_malformed()
    {
        using var anonymous = api.Client();
        var member = await api.CreateUserWithKey();
        var unknown = ApiToken.Generate().Token;
        var typo = member.Token[..10] + (member.Token[10] == 'a' ? 'b' : 'a') + member.Token[11..];

        async Task<string> Reason(string token)
        {
            var verdict = await (await anonymous.PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
            Assert.False(verdict.GetProperty("valid").GetBoolean());
            Assert.False(verdict.TryGetProperty("key", out _));
            Assert.False(verdict.TryGetProperty("user", out _));
            return verdict.Str("reason");
        }

        Assert.Equal("not_found", await Reason(unknown));
        Assert.Equal("malformed", await Reason(typo));
        Assert.Equal("malformed", await Reason(""));
        Assert.Equal("malformed", await Reason("uk_short"));
        Assert.Equal("malformed", await Reason("gh_" + member.Token[3..]));
        Assert.Equal("malformed", await Reason(member.Token + "x"));
        Assert.Equal("malformed", await Reason(member.Token.ToUpperInvariant()));
    }

    [Fact]
    public async Task An_expired_key_is_expired_and_refused_for_authentication()
    {
        var member = await api.CreateUserWithKey();
        var issued = ApiToken.Generate();
        // The API only issues keys that expire in the future; write one that already has.
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await new ApiKeyRepository(connection, null).CreateAsync(
                new NewApiKey(member.Id, "old", issued.Prefix, issued.Hash, DateTime.UtcNow.AddMinutes(-1), Auth.Scopes.All), 1000, CancellationToken.None);
        }

        api.IssuedTokens.Add(issued.Token);
        var verdict = await (await api.Client().PostJson("/v1/keys/verify", new { token = issued.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("expired", verdict.Str("reason"));
        using var client = api.Client(issued.Token);
        await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_key_that_expires_soon_is_valid_until_then()
    {
        var member = await api.CreateUserWithKey();
        var key = await api.IssueKey(member.Id, new { expires_at = DateTimeOffset.UtcNow.AddSeconds(2).ToString("O") });
        var token = key.Str("token");

        var before = await (await api.Client().PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        var after = await (await api.Client().PostJson("/v1/keys/verify", new { token })).Expect(HttpStatusCode.OK);

        Assert.True(before.GetProperty("valid").GetBoolean());
        Assert.Equal("expired", after.Str("reason"));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"token":null}""")]
    [InlineData("""{"token":42}""")]
    [InlineData("""{"tokens":"uk_x"}""")]
    [InlineData("not json")]
    [InlineData("[]")]
    public async Task No_token_field_is_400(string body)
    {
        var problem = await (await api.Client().PostRaw("/v1/keys/verify", body)).Expect(HttpStatusCode.BadRequest);
        Assert.DoesNotContain("uk_", problem.GetRawText());
    }

    [Fact]
    public async Task Verification_touches_last_used_at_at_most_once_a_minute()
    {
        var member = await api.CreateUserWithKey();
        using var anonymous = api.Client();

        var first = await (await anonymous.PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);
        var second = await (await anonymous.PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);

        Assert.Equal(first.GetProperty("key").Str("last_used_at"), second.GetProperty("key").Str("last_used_at"));
    }
}
