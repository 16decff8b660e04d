using System.Net;
using Dapper;
using UserKeys.Api.Auth;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>Tokens never reach logs, error bodies, other responses, or the database in clear.</summary>
public sealed class SecretsTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task A_full_session_leaves_no_token_in_logs_responses_or_rows()
    {
        var bodies = new List<string>();
        async Task<string> Read(HttpResponseMessage response)
        {
            var text = await response.Content.ReadAsStringAsync();
            bodies.Add(text);
            return text;
        }

        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var provisioned = await (await admin.PostJson("/v1/provision", new { email = Http.Email("secret"), key_name = "p" })).Expect(HttpStatusCode.Created);
        api.IssuedTokens.Add(provisioned.GetProperty("key").Str("token"));
        var spare = await api.IssueKey(member.Id);
        var spareToken = spare.Str("token");

        // Every way a token travels in: headers (good, revoked, mistyped), verify bodies (good and broken).
        using var asMember = api.Client(member.Token);
        await Read(await asMember.GetAsync("/v1/users/me"));
        await Read(await asMember.GetAsync($"/v1/users/{member.Id}/keys"));
        await Read(await api.Client().PostJson("/v1/keys/verify", new { token = member.Token }));
        await Read(await api.Client().PostRaw("/v1/keys/verify", $$"""{"token": {{member.Token}}}"""));
        await Read(await api.Client().PostRaw("/v1/keys/verify", $$"""{"token": "{{member.Token}}" """));
        await Read(await api.Client().PostRaw("/v1/keys/verify", $$"""{"token": ["{{member.Token}}"]}"""));
        await Read(await admin.PostRaw("/v1/users", $$"""{"email": "{{member.Token}}"}"""));
        await Read(await admin.GetAsync($"/v1/users?email={member.Token}"));
        await Read(await admin.GetAsync($"/v1/users?after={member.Token}"));
        await Read(await asMember.PostAsync($"/v1/users/{member.Id}/keys/{spare.Long("id")}/revoke", null));
        using var revoked = api.Client(spareToken);
        await Read(await revoked.GetAsync("/v1/users/me"));
        using var mistyped = api.Client(member.Token[..^1] + "0");
        await Read(await mistyped.GetAsync("/v1/users/me"));
        await Read(await api.Client().PostJson("/v1/keys/verify", new { token = spareToken }));

        var tokens = api.IssuedTokens.ToList();
        Assert.Empty(api.LeakedTokens());
        foreach (var body in bodies.Where(body => !body.Contains("\"token\":", StringComparison.Ordinal)))
        {
            Assert.All(tokens, token => Assert.DoesNotContain(token, body));
        }

        // In the database: only SHA-256 hashes (32 bytes), and no column anywhere holds a token's text.
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var dump = string.Join("\n", await connection.QueryAsync<string>(TestSql.Get("all_rows_as_text")));
        Assert.NotEmpty(dump);
        Assert.All(tokens, token => Assert.DoesNotContain(token, dump));
        Assert.All(tokens, token => Assert.DoesNotContain(token[ApiToken.PrefixLength..], dump));

        // And what a backup would hold: pg_dump of the whole database.
        var backup = await PostgresTools.DumpAsync(api.Database.ConnectionString);
        Assert.Contains("COPY public.api_keys", backup);
        Assert.All(tokens, token => Assert.DoesNotContain(token, backup));
        Assert.All(tokens, token => Assert.DoesNotContain(token[ApiToken.PrefixLength..], backup));
    }
}
