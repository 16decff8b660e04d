using System.Net;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

public sealed class ProvisionTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task Provision_creates_the_user_and_its_key_together()
    {
        using var admin = api.Admin();
        var email = Http.Email("provisioned");

        var response = await admin.PostJson("/v1/provision", new { email, name = "Pro", role = "member", key_name = "first" });

        var created = await response.Expect(HttpStatusCode.Created);
        var user = created.GetProperty("user");
        var key = created.GetProperty("key");
        api.IssuedTokens.Add(key.Str("token"));
        Assert.Equal($"/v1/users/{user.Long("id")}", response.Headers.Location?.ToString());
        Assert.Equal(email, user.Str("email"));
        Assert.Equal("first", key.Str("name"));
        Assert.Equal(user.Long("id"), key.Long("user_id"));
        using var client = api.Client(key.Str("token"));
        Assert.Equal(user.Long("id"), (await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Long("id"));
    }

    [Fact]
    public async Task A_taken_email_is_409_and_creates_no_key()
    {
        using var admin = api.Admin();
        var existing = await api.CreateUserWithKey();

        await (await admin.PostJson("/v1/provision", new { email = existing.Email.ToUpperInvariant() })).Expect(HttpStatusCode.Conflict);

        var keys = await (await admin.GetAsync($"/v1/users/{existing.Id}/keys")).Expect(HttpStatusCode.OK);
        Assert.Single(keys.GetProperty("items").EnumerateArray());
    }

    [Theory]
    [InlineData("""{"name":"no email"}""")]
    [InlineData("""{"email":"bad"}""")]
    [InlineData("""{"email":"ok@example.com","role":"owner"}""")]
    [InlineData("""{"email":"ok@example.com","key_name":[]}""")]
    public async Task Invalid_fields_are_400_and_nothing_is_created(string body)
    {
        using var admin = api.Admin();
        await (await admin.PostRaw("/v1/provision", body)).Expect(HttpStatusCode.BadRequest);
        var lookup = await (await admin.GetAsync("/v1/users?email=ok@example.com")).Expect(HttpStatusCode.OK);
        Assert.Empty(lookup.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task When_the_key_step_fails_the_user_is_rolled_back()
    {
        using var admin = api.Admin();
        var email = Http.Email("doomed");
        // A database fault on the key insert (only for keys named 'explode'), after the user insert succeeded.
        await using (var connection = await api.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("inject_key_insert_fault"));
        }

        var response = await admin.PostJson("/v1/provision", new { email, key_name = "explode" });

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("injected", body);
        Assert.DoesNotContain("api_keys", body);
        await using var check = await api.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(0, await check.ExecuteScalarAsync<long>(TestSql.Get("count_users_with_email"), new { email }));
    }
}
