using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

public sealed class UserEndpointTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task Create_returns_201_with_location_and_the_user_as_stored()
    {
        using var admin = api.Admin();
        var email = "  " + Http.Email("Ada").Replace("example", "Example", StringComparison.Ordinal) + " ";

        var response = await admin.PostJson("/v1/users", new { email, name = "Ada Lovelace", role = "admin", unknown_field = 1 });

        var user = await response.Expect(HttpStatusCode.Created);
        Assert.Equal($"/v1/users/{user.Long("id")}", response.Headers.Location?.ToString());
        Assert.Equal(email.Trim(), user.Str("email"));
        Assert.Equal("Ada Lovelace", user.Str("name"));
        Assert.Equal("admin", user.Str("role"));
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$", user.Str("created_at"));
        Assert.False(user.TryGetProperty("keys", out _));
        var read = await (await admin.GetAsync($"/v1/users/{user.Long("id")}")).Expect(HttpStatusCode.OK);
        Assert.Equal(user.GetRawText(), read.GetRawText());
    }

    [Fact]
    public async Task Create_defaults_the_role_to_member_and_the_name_to_null()
    {
        using var admin = api.Admin();
        var user = await (await admin.PostJson("/v1/users", new { email = Http.Email() })).Expect(HttpStatusCode.Created);
        Assert.Equal("member", user.Str("role"));
        Assert.True(user.IsNull("name"));
    }

    [Fact]
    public async Task An_email_taken_in_another_case_is_409()
    {
        using var admin = api.Admin();
        var email = Http.Email("case");
        await (await admin.PostJson("/v1/users", new { email })).Expect(HttpStatusCode.Created);

        var conflict = await (await admin.PostJson("/v1/users", new { email = email.ToUpperInvariant() })).Expect(HttpStatusCode.Conflict);

        Assert.Contains("email", conflict.Str("title"));
    }

    [Theory]
    [InlineData("""{"name":"no email"}""", "email")]
    [InlineData("""{"email":null}""", "email")]
    [InlineData("""{"email":"ab"}""", "email")]
    [InlineData("""{"email":"no-at-sign.example.com"}""", "email")]
    [InlineData("""{"email":"two@@example.com"}""", "email")]
    [InlineData("""{"email":"a@b@example.com"}""", "email")]
    [InlineData("""{"email":"@example.com"}""", "email")]
    [InlineData("""{"email":"ada@"}""", "email")]
    [InlineData("""{"email":"ada lovelace@example.com"}""", "email")]
    [InlineData("""{"email":"nul\u0000@example.com"}""", "email")]
    [InlineData("""{"email":42}""", "email")]
    [InlineData("""{"email":["a@b.c"]}""", "email")]
    [InlineData("""{"email":"ok@example.com","role":"root"}""", "role")]
    [InlineData("""{"email":"ok@example.com","role":"Admin"}""", "role")]
    [InlineData("""{"email":"ok@example.com","role":1}""", "role")]
    [InlineData("""{"email":"ok@example.com","name":7}""", "name")]
    [InlineData("""{"email":"ok@example.com","name":"\ud800"}""", "name")]
    public async Task Invalid_fields_are_400_with_field_errors(string body, string field)
    {
        using var admin = api.Admin();

        var problem = await (await admin.PostRaw("/v1/users", body)).Expect(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), problem.GetRawText());
        Assert.NotEmpty(messages.EnumerateArray());
    }

    [Fact]
    public async Task Too_long_email_and_name_are_400()
    {
        using var admin = api.Admin();
        var longEmail = new string('a', 250) + "@example.com";
        var problem = await (await admin.PostJson("/v1/users", new { email = longEmail, name = new string('n', 121) })).Expect(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("email", out _));
        Assert.True(problem.GetProperty("errors").TryGetProperty("name", out _));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"email\":")]
    [InlineData("[1,2,3]")]
    [InlineData("\"a string\"")]
    [InlineData("")]
    public async Task A_body_that_is_not_a_json_object_is_400(string body)
    {
        using var admin = api.Admin();
        await (await admin.PostRaw("/v1/users", body, "text/plain")).Expect(HttpStatusCode.BadRequest);
        await (await admin.PostRaw("/v1/users", body)).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_body_over_64_KiB_is_413()
    {
        using var admin = api.Admin();
        var huge = JsonSerializer.Serialize(new { email = Http.Email(), name = new string('x', 70_000) });

        await (await admin.PostRaw("/v1/users", huge)).Expect(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Invalid_utf8_is_400()
    {
        using var admin = api.Admin();
        using var content = new ByteArrayContent([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}']);
        content.Headers.ContentType = new("application/json");

        await (await admin.PostAsync("/v1/users", content)).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Get_of_a_missing_user_is_404()
    {
        using var admin = api.Admin();
        await (await admin.GetAsync($"/v1/users/{long.MaxValue}")).Expect(HttpStatusCode.NotFound);
        await (await admin.GetAsync("/v1/users/not-a-number")).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Me_is_the_calling_keys_user()
    {
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        var me = await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        var byId = await (await client.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK);

        Assert.Equal(member.Id, me.Long("id"));
        Assert.Equal(member.Email, me.Str("email"));
        Assert.Equal(me.GetRawText(), byId.GetRawText());
    }

    [Fact]
    public async Task Lookup_by_email_ignores_case_and_returns_zero_or_one_item()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();

        var found = await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(member.Email.ToUpperInvariant())}")).Expect(HttpStatusCode.OK);
        var none = await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(Http.Email())}")).Expect(HttpStatusCode.OK);

        Assert.Equal([member.Id], found.GetProperty("items").EnumerateArray().Select(user => user.Long("id")));
        Assert.Empty(none.GetProperty("items").EnumerateArray());
        await (await admin.GetAsync("/v1/users?email=not-an-email")).Expect(HttpStatusCode.BadRequest);
        await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(member.Email)}&offset=0")).Expect(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Patch_changes_the_fields_given_and_null_clears_the_name()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();
        var newEmail = Http.Email("renamed");

        var changed = await (await admin.PatchJson($"/v1/users/{member.Id}", new { email = newEmail, name = "New Name", role = "admin" })).Expect(HttpStatusCode.OK);
        Assert.Equal(newEmail, changed.Str("email"));
        Assert.Equal("New Name", changed.Str("name"));
        Assert.Equal("admin", changed.Str("role"));

        var cleared = await (await admin.PatchRaw($"/v1/users/{member.Id}", """{"name":null}""")).Expect(HttpStatusCode.OK);
        Assert.True(cleared.IsNull("name"));
        Assert.Equal(newEmail, cleared.Str("email"));

        var unchanged = await (await admin.PatchRaw($"/v1/users/{member.Id}", "{}")).Expect(HttpStatusCode.OK);
        Assert.Equal(cleared.GetRawText(), unchanged.GetRawText());
    }

    [Fact]
    public async Task A_member_may_patch_itself_but_not_its_role_nor_anyone_else()
    {
        var member = await api.CreateUserWithKey();
        var other = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        var self = await (await client.PatchJson($"/v1/users/{member.Id}", new { name = "Me" })).Expect(HttpStatusCode.OK);
        Assert.Equal("Me", self.Str("name"));
        await (await client.PatchJson($"/v1/users/{member.Id}", new { role = "admin" })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchJson($"/v1/users/{member.Id}", new { role = "member" })).Expect(HttpStatusCode.Forbidden);
        await (await client.PatchJson($"/v1/users/{other.Id}", new { name = "Hijack" })).Expect(HttpStatusCode.NotFound);

        using var admin = api.Admin();
        var after = await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.OK);
        Assert.Equal("member", after.Str("role"));
        var otherAfter = await (await admin.GetAsync($"/v1/users/{other.Id}")).Expect(HttpStatusCode.OK);
        Assert.Equal("Test User", otherAfter.Str("name"));
    }

    [Fact]
    public async Task Patch_errors_are_400_404_and_409()
    {
        using var admin = api.Admin();
        var one = await api.CreateUserWithKey();
        var two = await api.CreateUserWithKey();

        await (await admin.PatchJson($"/v1/users/{long.MaxValue}", new { name = "x" })).Expect(HttpStatusCode.NotFound);
        await (await admin.PatchJson($"/v1/users/{two.Id}", new { email = one.Email.ToUpperInvariant() })).Expect(HttpStatusCode.Conflict);
        foreach (var body in new[] { """{"email":null}""", """{"role":null}""", """{"email":"bad"}""", """{"name":5}""", "[]", "nope" })
        {
            await (await admin.PatchRaw($"/v1/users/{two.Id}", body)).Expect(HttpStatusCode.BadRequest);
        }

        var unchanged = await (await admin.GetAsync($"/v1/users/{two.Id}")).Expect(HttpStatusCode.OK);
        Assert.Equal(two.Email, unchanged.Str("email"));
    }

    [Fact]
    public async Task Delete_removes_the_user_and_its_keys()
    {
        using var admin = api.Admin();
        var member = await api.CreateUserWithKey();

        await (await admin.DeleteAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.NoContent);

        await (await admin.GetAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.NotFound);
        await (await admin.DeleteAsync($"/v1/users/{member.Id}")).Expect(HttpStatusCode.NotFound);
        var verdict = await (await api.Client().PostJson("/v1/keys/verify", new { token = member.Token })).Expect(HttpStatusCode.OK);
        Assert.Equal("not_found", verdict.Str("reason"));
        using var gone = api.Client(member.Token);
        await (await gone.GetAsync("/v1/users/me")).Expect(HttpStatusCode.Unauthorized);
    }
}
