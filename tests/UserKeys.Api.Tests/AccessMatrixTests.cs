using System.Net;
using Dapper;
using UserKeys.Api.Auth;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Tests;

/// <summary>
/// Who may do what, endpoint by endpoint, status by status: an admin acts on everyone; a member on
/// itself only (another user's anything is 404, an admin-only endpoint 403); a missing, malformed,
/// unknown, revoked, expired or disabled token is 401 with WWW-Authenticate: Bearer.
/// </summary>
public sealed class AccessMatrixTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    public enum Who { Admin, Self, OtherMember, NoToken, Malformed, Unknown, Revoked, Expired, Disabled }

    /// <summary>The target user, its keys, and the tokens of each kind of caller.</summary>
    private sealed record World(TestUser Target, long SpareKeyId, Dictionary<Who, string?> Tokens);

    private static readonly Dictionary<string, Func<HttpClient, World, Task<HttpResponseMessage>>> Endpoints = new()
    {
        ["POST /v1/users"] = (c, _) => c.PostJson("/v1/users", new { email = Http.Email("matrix") }),
        ["GET /v1/users/{id}"] = (c, w) => c.GetAsync($"/v1/users/{w.Target.Id}"),
        ["GET /v1/users/me"] = (c, _) => c.GetAsync("/v1/users/me"),
        ["GET /v1/users?email="] = (c, w) => c.GetAsync($"/v1/users?email={Uri.EscapeDataString(w.Target.Email)}"),
        ["GET /v1/users?limit="] = (c, _) => c.GetAsync("/v1/users?limit=2"),
        ["GET /v1/users?offset="] = (c, _) => c.GetAsync("/v1/users?limit=2&offset=1"),
        ["PATCH /v1/users/{id} name"] = (c, w) => c.PatchJson($"/v1/users/{w.Target.Id}", new { name = "Renamed" }),
        ["PATCH /v1/users/{id} role"] = (c, w) => c.PatchJson($"/v1/users/{w.Target.Id}", new { role = "admin" }),
        ["DELETE /v1/users/{id}"] = (c, w) => c.DeleteAsync($"/v1/users/{w.Target.Id}"),
        ["POST /v1/users/{id}/keys"] = (c, w) => c.PostJson($"/v1/users/{w.Target.Id}/keys", new { name = "matrix" }),
        ["GET /v1/users/{id}/keys"] = (c, w) => c.GetAsync($"/v1/users/{w.Target.Id}/keys"),
        ["POST /v1/users/{id}/keys/{key_id}/revoke"] = (c, w) => c.PostAsync($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}/revoke", null),
        ["DELETE /v1/users/{id}/keys/{key_id}"] = (c, w) => c.DeleteAsync($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}"),
        ["PATCH /v1/users/{id}/keys/{key_id}"] = (c, w) =>
            c.PatchJson($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}", new { name = "renamed", enabled = false }),
        ["PATCH /v1/users/{id}/keys/{key_id} permissions"] = (c, w) =>
            c.PatchJson($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}", new { permissions = new[] { "x.read" } }),
        ["PATCH /v1/users/{id}/keys/{key_id} meta"] = (c, w) =>
            c.PatchJson($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}", new { meta = new { plan = "pro" } }),
        ["POST /v1/users/{id}/keys meta"] = (c, w) => c.PostJson($"/v1/users/{w.Target.Id}/keys", new { meta = new { plan = "pro" } }),
        ["PATCH /v1/users/{id} limits"] = (c, w) => c.PatchJson($"/v1/users/{w.Target.Id}", new { remaining = 1000 }),
        ["POST /v1/users/{id}/keys/{key_id}/roll"] = (c, w) => c.PostJson($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}/roll", new { grace_seconds = 5 }),
        ["GET /v1/audit"] = (c, w) => c.GetAsync($"/v1/audit?user_id={w.Target.Id}"),
        ["GET /v1/users/{id}/keys/{key_id}/usage"] = (c, w) => c.GetAsync($"/v1/users/{w.Target.Id}/keys/{w.SpareKeyId}/usage"),
        ["GET /v1/users/{id}/audit"] = (c, w) => c.GetAsync($"/v1/users/{w.Target.Id}/audit"),
        ["POST /v1/provision"] = (c, _) => c.PostJson("/v1/provision", new { email = Http.Email("matrix") }),
        ["POST /v1/keys/verify"] = (c, w) => c.PostJson("/v1/keys/verify", new { token = w.Target.Token }),
    };

    // Expected status for admin, self, other member; every bad token is 401 (verify needs none, but a bearer
    // token it is given must be good: a relying service learns that its own key was refused).
    private static readonly Dictionary<string, (int Admin, int Self, int Other)> Expected = new()
    {
        ["POST /v1/users"] = (201, 403, 403),
        ["GET /v1/users/{id}"] = (200, 200, 404),
        ["GET /v1/users/me"] = (200, 200, 200),
        ["GET /v1/users?email="] = (200, 403, 403),
        ["GET /v1/users?limit="] = (200, 403, 403),
        ["GET /v1/users?offset="] = (200, 403, 403),
        ["PATCH /v1/users/{id} name"] = (200, 200, 404),
        ["PATCH /v1/users/{id} role"] = (200, 403, 404),
        ["DELETE /v1/users/{id}"] = (204, 403, 403),
        ["POST /v1/users/{id}/keys"] = (201, 201, 404),
        ["GET /v1/users/{id}/keys"] = (200, 200, 404),
        ["POST /v1/users/{id}/keys/{key_id}/revoke"] = (200, 200, 404),
        ["DELETE /v1/users/{id}/keys/{key_id}"] = (204, 204, 404),
        ["PATCH /v1/users/{id}/keys/{key_id}"] = (200, 200, 404),
        ["PATCH /v1/users/{id}/keys/{key_id} permissions"] = (200, 403, 404),
        ["PATCH /v1/users/{id}/keys/{key_id} meta"] = (200, 403, 404),
        ["POST /v1/users/{id}/keys meta"] = (201, 403, 404),
        ["PATCH /v1/users/{id} limits"] = (200, 403, 404),
        ["POST /v1/users/{id}/keys/{key_id}/roll"] = (201, 201, 404),
        ["GET /v1/audit"] = (200, 403, 403),
        ["GET /v1/users/{id}/keys/{key_id}/usage"] = (200, 200, 404),
        ["GET /v1/users/{id}/audit"] = (200, 200, 404),
        ["POST /v1/provision"] = (201, 403, 403),
        ["POST /v1/keys/verify"] = (200, 200, 200),
    };

    public static TheoryData<string, Who> Cases()
    {
        var data = new TheoryData<string, Who>();
        foreach (var endpoint in Expected.Keys)
        {
            foreach (var who in Enum.GetValues<Who>())
            {
                data.Add(endpoint, who);
            }
        }

        return data;
    }

    [Fact]
    public void Every_endpoint_of_the_contract_is_in_the_matrix() =>
        Assert.Equal(Expected.Keys.Order(), Endpoints.Keys.Order());

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Status_matches_the_contract(string endpoint, Who who)
    {
        var world = await MakeWorld();
        using var client = api.Client(world.Tokens[who]);

        var response = await Endpoints[endpoint](client, world);

        var (admin, self, other) = Expected[endpoint];
        var expected = who switch
        {
            Who.Admin => admin,
            Who.Self => self,
            Who.OtherMember => other,
            Who.NoToken when endpoint == "POST /v1/keys/verify" => 200,
            _ => 401,
        };
        await response.Expect((HttpStatusCode)expected);
        if (expected == 401)
        {
            Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString());
        }

        if (response.Content.Headers.ContentType?.MediaType == "application/json" && !endpoint.StartsWith("POST /v1/users/{id}/keys", StringComparison.Ordinal)
            && endpoint != "POST /v1/provision" && endpoint != "POST /v1/users/{id}/keys/{key_id}/roll")
        {
            foreach (var token in world.Tokens.Values.OfType<string>())
            {
                Assert.DoesNotContain(token, await response.Content.ReadAsStringAsync());
            }
        }
    }

    [Fact]
    public async Task A_member_can_never_make_itself_admin()
    {
        var world = await MakeWorld();
        using var client = api.Client(world.Target.Token);

        await (await client.PatchJson($"/v1/users/{world.Target.Id}", new { role = "admin" })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchJson($"/v1/users/{world.Target.Id}", new { name = "x", role = "admin" })).Expect(HttpStatusCode.Forbidden);
        await (await client.PostJson("/v1/provision", new { email = Http.Email(), role = "admin" })).Expect(HttpStatusCode.Forbidden);
        await (await client.PostJson("/v1/users", new { email = Http.Email(), role = "admin" })).Expect(HttpStatusCode.Forbidden);

        var me = await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.Equal("member", me.Str("role"));
        Assert.Equal("Test User", me.Str("name"));
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer")]
    [InlineData("Bearer ")]
    [InlineData("Token abc")]
    [InlineData("bearer uk_x")]
    public async Task Malformed_authorization_headers_are_401(string header)
    {
        using var client = api.Client();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", header);
        var response = await client.GetAsync("/v1/users/me");
        await response.Expect(HttpStatusCode.Unauthorized);
        Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task An_oversized_authorization_header_is_a_4xx_problem()
    {
        using var client = api.Client();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + new string('a', 20_000));
        var response = await client.GetAsync("/v1/users/me");
        Assert.InRange((int)response.StatusCode, 400, 499);
    }

    private async Task<World> MakeWorld()
    {
        var target = await api.CreateUserWithKey();
        var spare = await api.IssueKey(target.Id, new { name = "spare" });
        var other = await api.CreateUserWithKey();
        var revoked = await api.IssueKey(other.Id, new { name = "revoked" });
        var disabled = await api.IssueKey(other.Id, new { name = "disabled" });
        using (var admin = api.Admin())
        {
            await (await admin.PostAsync($"/v1/users/{other.Id}/keys/{revoked.Long("id")}/revoke", null)).Expect(HttpStatusCode.OK);
            await (await admin.PatchJson($"/v1/users/{other.Id}/keys/{disabled.Long("id")}", new { enabled = false })).Expect(HttpStatusCode.OK);
        }

        var expired = ApiToken.Generate();
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await new ApiKeyRepository(connection, null).CreateAsync(
                new NewApiKey(other.Id, "expired", expired.Prefix, expired.Hash, DateTime.UtcNow.AddSeconds(-1), Auth.Scopes.All), 1000, CancellationToken.None);
        }

        api.IssuedTokens.Add(expired.Token);
        var malformed = target.Token[..^1] + (target.Token[^1] == 'a' ? 'b' : 'a');
        return new World(target, spare.Long("id"), new Dictionary<Who, string?>
        {
            [Who.Admin] = api.AdminToken,
            [Who.Self] = target.Token,
            [Who.OtherMember] = other.Token,
            [Who.NoToken] = null,
            [Who.Malformed] = malformed,
            [Who.Unknown] = ApiToken.Generate().Token,
            [Who.Revoked] = revoked.Str("token"),
            [Who.Expired] = expired.Token,
            [Who.Disabled] = disabled.Str("token"),
        });
    }
}
