using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>A user the test made through the API, with one key of its own.</summary>
public sealed record TestUser(long Id, string Email, string Role, long KeyId, string Token);

internal static class Scenario
{
    /// <summary>Creates a user as the admin and issues it a key (the user's own token).</summary>
    public static async Task<TestUser> CreateUserWithKey(this ApiFactory factory, string role = "member", string? email = null)
    {
        using var admin = factory.Admin();
        email ??= Http.Email(role);
        var user = await (await admin.PostJson("/v1/users", new { email, name = "Test User", role })).Expect(HttpStatusCode.Created);
        var key = await factory.IssueKey(user.Long("id"));
        return new TestUser(user.Long("id"), email, role, key.Long("id"), key.Str("token"));
    }

    /// <summary>Issues a key for a user as the admin; returns the created key (with its token).</summary>
    public static async Task<JsonElement> IssueKey(this ApiFactory factory, long userId, object? body = null)
    {
        using var admin = factory.Admin();
        var key = await (await admin.PostJson($"/v1/users/{userId}/keys", body ?? new { name = "test" })).Expect(HttpStatusCode.Created);
        factory.IssuedTokens.Add(key.Str("token"));
        return key;
    }
}
