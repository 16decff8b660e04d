using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

public sealed class OpenApiTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    // Every row of the contract's endpoint table, with the statuses it names.
    public static TheoryData<string, string, string[]> Contract => new()
    {
        // Every scoped endpoint may answer 403 (a missing scope) and every authenticated one 429 (per-key limit).
        { "post", "/v1/users", ["201", "400", "401", "403", "409", "429"] },
        { "get", "/v1/users/{id}", ["200", "401", "403", "404", "429"] },
        { "get", "/v1/users/me", ["200", "401", "429"] },
        { "get", "/v1/users", ["200", "400", "401", "403", "429"] },
        { "patch", "/v1/users/{id}", ["200", "400", "401", "403", "404", "409", "429"] },
        { "delete", "/v1/users/{id}", ["204", "401", "403", "404", "409", "429"] },
        { "post", "/v1/users/{id}/keys", ["201", "400", "401", "403", "404", "409", "429"] },
        { "get", "/v1/users/{id}/keys", ["200", "400", "401", "403", "404", "429"] },
        { "post", "/v1/users/{id}/keys/{key_id}/revoke", ["200", "401", "403", "404", "429"] },
        { "delete", "/v1/users/{id}/keys/{key_id}", ["204", "401", "403", "404", "429"] },
        { "patch", "/v1/users/{id}/keys/{key_id}", ["200", "400", "401", "403", "404", "429"] },
        { "post", "/v1/users/{id}/keys/{key_id}/roll", ["201", "400", "401", "403", "404", "409", "429"] },
        { "get", "/v1/audit", ["200", "400", "401", "403", "429"] },
        { "get", "/v1/users/{id}/keys/{key_id}/usage", ["200", "400", "401", "403", "404", "429"] },
        { "get", "/v1/users/{id}/audit", ["200", "400", "401", "403", "404", "429"] },
        { "post", "/v1/provision", ["201", "400", "401", "403", "409", "429"] },
        { "post", "/v1/keys/verify", ["200", "400", "401", "403", "429"] },
        { "get", "/healthz", ["200"] },
        { "get", "/readyz", ["200", "503"] },
    };

    private async Task<JsonElement> Document()
    {
        using var client = api.Client();
        return await (await client.GetAsync("/openapi/v1.json")).Expect(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Contract))]
    public async Task The_document_describes_each_endpoint_with_its_statuses(string method, string path, string[] statuses)
    {
        var operation = (await Document()).GetProperty("paths").GetProperty(path).GetProperty(method);
        var responses = operation.GetProperty("responses").EnumerateObject().Select(response => response.Name).ToHashSet();
        Assert.Superset(statuses.ToHashSet(), responses);
        var anonymous = path is "/healthz" or "/readyz";
        Assert.Equal(!anonymous, operation.TryGetProperty("security", out var security));
        if (path == "/v1/keys/verify")
        {
            // Optional: anonymously (an empty requirement) or with a bearer key.
            Assert.Contains(security.EnumerateArray(), requirement => !requirement.EnumerateObject().Any());
        }
        if (method is "post" or "patch" && !path.EndsWith("/revoke", StringComparison.Ordinal))
        {
            Assert.True(operation.TryGetProperty("requestBody", out _), $"{method} {path} has no request body");
        }
    }

    [Fact]
    public async Task The_document_has_exactly_the_contracts_paths_and_the_bearer_scheme()
    {
        var document = await Document();
        var described = document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(operation => $"{operation.Name} {path.Name}"))
            .Order().ToList();
        var contract = Contract.Select(row => $"{row[0]} {row[1]}").Order().ToList();

        Assert.Equal(contract, described);
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer");
        Assert.Equal("http", scheme.Str("type"));
        Assert.Equal("bearer", scheme.Str("scheme"));
    }

    [Fact]
    public async Task Listing_parameters_and_snake_case_schemas_are_described()
    {
        var document = await Document();
        var parameters = document.GetProperty("paths").GetProperty("/v1/users").GetProperty("get").GetProperty("parameters")
            .EnumerateArray().Select(parameter => parameter.Str("name")).ToList();
        Assert.Equal(["email", "limit", "after", "offset", "include"], parameters);
        var user = document.GetProperty("components").GetProperty("schemas").GetProperty("UserResponse").GetProperty("properties");
        Assert.True(user.TryGetProperty("created_at", out _));
        var shapes = document.GetProperty("paths").GetProperty("/v1/users").GetProperty("get").GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("oneOf").EnumerateArray()
            .Select(shape => string.Join(",", shape.GetProperty("properties").EnumerateObject().Select(property => property.Name)))
            .ToList();
        Assert.Equal(["items,next_cursor", "items,total,limit,offset", "items"], shapes);
        var id = user.GetProperty("id");
        Assert.Equal("integer", id.Str("type"));
        Assert.Equal("string", user.GetProperty("created_at").Str("type"));
    }

    [Fact]
    public async Task Key_governance_and_audit_schemas_are_described()
    {
        var document = await Document();
        var schemas = document.GetProperty("components").GetProperty("schemas");
        await File.WriteAllTextAsync(Testing.RepositoryFiles.Path("artifacts", "openapi.json"), document.GetRawText());
        var key = schemas.GetProperty("KeyResponse").GetProperty("properties");
        Assert.Equal(
            ["id", "user_id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at", "enabled", "scopes", "permissions", "meta", "rolled_from_id",
             "remaining", "refill", "refilled_at", "rate_limits", "budget_key_id"],
            key.EnumerateObject().Select(property => property.Name));
        Assert.Contains("object", key.GetProperty("meta").GetProperty("type").GetRawText());
        var patch = document.GetProperty("paths").GetProperty("/v1/users/{id}/keys/{key_id}").GetProperty("patch").GetProperty("requestBody")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("properties");
        Assert.Equal(["name", "enabled", "scopes", "permissions", "meta", "expires_at", "remaining", "refill", "rate_limits"], patch.EnumerateObject().Select(property => property.Name));
        Assert.Equal(50, patch.GetProperty("permissions").GetProperty("maxItems").GetInt32());
        Assert.Contains("object", patch.GetProperty("meta").GetProperty("type").GetRawText());
        var roll = document.GetProperty("paths").GetProperty("/v1/users/{id}/keys/{key_id}/roll").GetProperty("post").GetProperty("requestBody");
        Assert.False(roll.TryGetProperty("required", out var required) && required.GetBoolean());
        var grace = roll.GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("properties").GetProperty("grace_seconds");
        Assert.Equal(604800, grace.GetProperty("maximum").GetInt32());
        var audit = schemas.GetProperty("AuditEventResponse").GetProperty("properties");
        Assert.Equal("object", audit.GetProperty("changes").Str("type"));
        Assert.False(schemas.TryGetProperty("RawJson", out _));
        Assert.Equal(["id", "at", "action", "actor", "user_id", "key_id", "request_id", "trace_id", "changes"], audit.EnumerateObject().Select(property => property.Name));
        var filters = document.GetProperty("paths").GetProperty("/v1/audit").GetProperty("get").GetProperty("parameters")
            .EnumerateArray().Select(parameter => parameter.Str("name"));
        Assert.Equal(["limit", "after", "user_id", "key_id", "action"], filters);
        var ofUser = document.GetProperty("paths").GetProperty("/v1/users/{id}/audit").GetProperty("get").GetProperty("parameters")
            .EnumerateArray().Select(parameter => parameter.Str("name"));
        Assert.Equal(["id", "limit", "after"], ofUser);
    }

    [Fact]
    public async Task The_api_reference_page_is_served_with_its_script_from_the_service_itself()
    {
        using var client = api.Client();
        var page = await client.GetAsync("/reference/v1");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotContain("cdn.jsdelivr.net", html);
        Assert.DoesNotContain("https://", html.Replace("https://tools.ietf.org", "", StringComparison.Ordinal).Split("<script")[0], StringComparison.Ordinal);
        var script = System.Text.RegularExpressions.Regex.Match(html, "<script[^>]+src=\"([^\"]+)\"").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(script), html);
        Assert.False(script.StartsWith("http", StringComparison.Ordinal), script);
        var bundle = await client.GetAsync(new Uri(new Uri("http://localhost/reference/v1"), script));
        Assert.Equal(HttpStatusCode.OK, bundle.StatusCode);
        Assert.True((await bundle.Content.ReadAsByteArrayAsync()).Length > 100_000);
    }
}
