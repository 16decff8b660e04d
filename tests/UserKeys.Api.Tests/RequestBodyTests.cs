using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>
/// Request bodies are records: every bad field is named at once, whether the JSON reads into the record
/// (rule errors) or not (wrong types, missing or null fields), and PATCH tells an absent field from null.
/// </summary>
public sealed class RequestBodyTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static string[] Fields(JsonElement problem) =>
        [.. problem.GetProperty("errors").EnumerateObject().Select(field => field.Name).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Rule_errors_in_every_field_are_named_at_once()
    {
        using var admin = api.Admin();
        var body = $$"""
            {"email":"no-at-sign","name":"{{new string('n', 121)}}","role":"root","key_name":"{{new string('k', 121)}}",
             "expires_at":"2001-01-01T00:00:00Z","scopes":["users:read","root",""]}
            """;

        var problem = await (await admin.PostRaw("/v1/provision", body)).Expect(HttpStatusCode.BadRequest);

        Assert.Equal(["email", "expires_at", "key_name", "name", "role", "scopes"], Fields(problem));
        var scopes = problem.GetProperty("errors").GetProperty("scopes").EnumerateArray().Select(message => message.GetString()).ToList();
        Assert.Equal(2, scopes.Count);
        Assert.StartsWith("[1] is not a scope", scopes[0], StringComparison.Ordinal);
        Assert.StartsWith("[2] is not a scope", scopes[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Type_errors_and_rule_errors_together_are_named_at_once()
    {
        using var admin = api.Admin();
        // email is a number (the record cannot be read at all), the others break their rules or types.
        const string body = """{"email":42,"name":"  ","role":"Admin","key_name":7,"expires_at":"2030-01-01","scopes":["keys:read",3]}""";

        var problem = await (await admin.PostRaw("/v1/provision", body)).Expect(HttpStatusCode.BadRequest);

        Assert.Equal(["email", "expires_at", "key_name", "role", "scopes"], Fields(problem));
        var errors = problem.GetProperty("errors");
        Assert.Equal("must be a string, not a number", errors.GetProperty("email")[0].GetString());
        Assert.Equal("must be 'admin' or 'member'", errors.GetProperty("role")[0].GetString());
        Assert.Equal("[1] must be a string, not a number", errors.GetProperty("scopes")[0].GetString());
    }

    [Theory]
    [InlineData("""{}""", "is required")]
    [InlineData("""{"email":null}""", "must not be null")]
    [InlineData("""{"email":"x@example.com","role":null}""", null)]
    public async Task Missing_and_null_required_fields_are_told_apart(string body, string? message)
    {
        using var admin = api.Admin();
        var response = await admin.PostRaw("/v1/users", body.Replace("x@example.com", Http.Email(), StringComparison.Ordinal));
        if (message is null)
        {
            // role: null on creation is the default role.
            Assert.Equal("member", (await response.Expect(HttpStatusCode.Created)).Str("role"));
            return;
        }

        var problem = await response.Expect(HttpStatusCode.BadRequest);
        Assert.Equal(message, problem.GetProperty("errors").GetProperty("email")[0].GetString());
    }

    [Fact]
    public async Task Patch_leaves_absent_fields_clears_a_null_name_and_refuses_a_null_email_or_role()
    {
        using var admin = api.Admin();
        var user = await (await admin.PostJson("/v1/users", new { email = Http.Email(), name = "Named" })).Expect(HttpStatusCode.Created);
        var path = $"/v1/users/{user.Long("id")}";

        var same = await (await admin.PatchRaw(path, "{}")).Expect(HttpStatusCode.OK);
        Assert.Equal(user.GetRawText(), same.GetRawText());

        var renamed = await (await admin.PatchRaw(path, """{"name":"  Renamed  "}""")).Expect(HttpStatusCode.OK);
        Assert.Equal("Renamed", renamed.Str("name"));
        Assert.Equal(user.Str("email"), renamed.Str("email"));

        var cleared = await (await admin.PatchRaw(path, """{"name":null}""")).Expect(HttpStatusCode.OK);
        Assert.True(cleared.IsNull("name"));

        var refused = await (await admin.PatchRaw(path, """{"email":null,"role":null,"name":5}""")).Expect(HttpStatusCode.BadRequest);
        Assert.Equal(["email", "name", "role"], Fields(refused));
        Assert.Equal("must not be null", refused.GetProperty("errors").GetProperty("email")[0].GetString());
        Assert.Equal("must not be null", refused.GetProperty("errors").GetProperty("role")[0].GetString());

        var unchanged = await (await admin.GetAsync(path)).Expect(HttpStatusCode.OK);
        Assert.True(unchanged.IsNull("name"));
        Assert.Equal(user.Str("email"), unchanged.Str("email"));
    }

    [Theory]
    [InlineData("""{"token":"a\u0001b"}""")]
    [InlineData("""{"token":"\ud800"}""")]
    [InlineData("""{"token":["uk_x"]}""")]
    [InlineData("""{"token":null}""")]
    [InlineData("""{"tokens":"uk_x"}""")]
    public async Task A_verify_body_without_a_readable_token_is_400_naming_token(string body)
    {
        var problem = await (await api.Client().PostRaw("/v1/keys/verify", body)).Expect(HttpStatusCode.BadRequest);
        Assert.Equal(["token"], Fields(problem));
    }

    [Fact]
    public async Task Duplicate_json_and_trailing_garbage_are_400_not_a_guess()
    {
        using var admin = api.Admin();
        await (await admin.PostRaw("/v1/users", $$"""{"email":"{{Http.Email()}}"} {}""")).Expect(HttpStatusCode.BadRequest);
        await (await admin.PostRaw("/v1/users", $$"""{"email":"{{Http.Email()}}"}x""")).Expect(HttpStatusCode.BadRequest);
    }
}
