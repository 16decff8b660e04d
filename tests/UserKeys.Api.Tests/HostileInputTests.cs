using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dapper;
using UserKeys.Api.Auth;
using UserKeys.Testing;
using Xunit.Abstractions;

namespace UserKeys.Api.Tests;

/// <summary>
/// A corpus of malformed requests, generated here, across every endpoint: every answer is a 4xx
/// application/problem+json, none a 5xx, and the database is exactly as it was.
/// </summary>
public sealed class HostileInputTests(ApiFactory api, ITestOutputHelper output) : IClassFixture<ApiFactory>
{
    private sealed record Attack(string Name, HttpMethod Method, string Path, byte[]? Body, string? Authorization, string? Accept = null);

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static IEnumerable<Attack> Corpus(TestUser member, string adminToken)
    {
        var admin = "Bearer " + adminToken;
        var bodyEndpoints = new (string Method, string Path, string Valid)[]
        {
            ("POST", "/v1/users", """{"email":"valid@example.com","name":"N","role":"member"}"""),
            ("PATCH", $"/v1/users/{member.Id}", """{"email":"valid2@example.com","name":"N"}"""),
            ("POST", $"/v1/users/{member.Id}/keys", """{"name":"k","expires_at":"2999-01-01T00:00:00Z"}"""),
            ("POST", "/v1/provision", """{"email":"valid3@example.com","key_name":"k"}"""),
            ("POST", "/v1/keys/verify", """{"token":"uk_x"}"""),
            ("PATCH", $"/v1/users/{member.Id}/keys/{member.KeyId}", """{"name":"k","enabled":true,"permissions":["a.b"],"meta":{"x":1}}"""),
            ("POST", $"/v1/users/{member.Id}/keys/{member.KeyId}/roll", """{"grace_seconds":60}"""),
        };
        var notObjects = new[] { "", " ", "null", "true", "42", "\"text\"", "[]", "[{}]", "{", "}", "{\"a\":}", "{'email':'x'}", "nope", "{\"email\":\"a\"", "\u0000", "{}}", "{\"email\" \"x\"}" };
        var fieldValues = new[] { "42", "-1", "1e400", "true", "[]", "{}", "[\"a@b.c\"]", "\"\"", "\"   \"", "\"a\u0000b@example.com\"", "\"x@y\\u0000z\"", "\"\\ud800@example.com\"", "\"'; DROP TABLE users; --\"", "\"a b@example.com\"", "\"@@\"", "\"" + new string('a', 300) + "@example.com\"" };

        foreach (var (method, path, valid) in bodyEndpoints)
        {
            var httpMethod = new HttpMethod(method);
            var auth = path == "/v1/keys/verify" ? null : admin;
            foreach (var body in notObjects)
            {
                if (body.Length == 0 && path.EndsWith("/roll", StringComparison.Ordinal))
                {
                    continue; // a roll's body may be left out
                }

                yield return new Attack($"{method} {path} not an object: {body}", httpMethod, path, Utf8(body), auth);
            }

            for (var cut = 1; cut < valid.Length - 1; cut += Math.Max(1, valid.Length / 8))
            {
                yield return new Attack($"{method} {path} truncated at {cut}", httpMethod, path, Utf8(valid[..cut]), auth);
            }

            yield return new Attack($"{method} {path} 1 MiB", httpMethod, path, Utf8("{\"name\":\"" + new string('x', 1 << 20) + "\"}"), auth);
            yield return new Attack($"{method} {path} 65 KiB of spaces", httpMethod, path, Utf8(valid + new string(' ', 65 * 1024)), auth);
            yield return new Attack($"{method} {path} invalid UTF-8", httpMethod, path, [.. Utf8("{\"email\":\""), 0xC3, 0x28, 0xFF, .. Utf8("\"}")], auth);
            yield return new Attack($"{method} {path} NUL byte", httpMethod, path, [.. Utf8("{\"email\":\"a"), 0x00, .. Utf8("@example.com\"}")], auth);
            yield return new Attack($"{method} {path} deep nesting", httpMethod, path, Utf8(new string('[', 5000) + new string(']', 5000)), auth);
        }

        foreach (var value in fieldValues)
        {
            yield return new Attack($"create email={value}", HttpMethod.Post, "/v1/users", Utf8($$"""{"email":{{value}}}"""), admin);
            yield return new Attack($"create role={value}", HttpMethod.Post, "/v1/users", Utf8($$"""{"email":"r{{Guid.NewGuid():N}}@example.com","role":{{value}}}"""), admin);
            yield return new Attack($"patch email={value}", HttpMethod.Patch, $"/v1/users/{member.Id}", Utf8($$"""{"email":{{value}}}"""), admin);
            yield return new Attack($"provision email={value}", HttpMethod.Post, "/v1/provision", Utf8($$"""{"email":{{value}}}"""), admin);
            yield return new Attack($"key expires_at={value}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"expires_at":{{value}}}"""), admin);
            yield return new Attack($"verify token={value}", HttpMethod.Post, "/v1/keys/verify", Utf8($$"""{"tokens":{{value}}}"""), null);
        }

        var keyPath = $"/v1/users/{member.Id}/keys/{member.KeyId}";
        var permissionValues = new[]
        {
            "42", "\"a.b\"", "{}", "[1]", "[null]", "[\"\"]", "[\"a b\"]", "[\"a\\u0000b\"]", "[\"\\ud800\"]", "[\"caf\u00e9\"]",
            "[\"" + new string('x', 101) + "\"]", "[" + string.Join(",", Enumerable.Range(0, 51).Select(i => $"\"p{i}\"")) + "]",
        };
        foreach (var value in permissionValues)
        {
            yield return new Attack($"create key permissions={value}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"permissions":{{value}}}"""), admin);
            yield return new Attack($"patch key permissions={value}", HttpMethod.Patch, keyPath, Utf8($$"""{"permissions":{{value}}}"""), admin);
            yield return new Attack($"verify permissions={value}", HttpMethod.Post, "/v1/keys/verify", Utf8($$"""{"token":"uk_x","permissions":{{value}}}"""), null);
        }

        var metaValues = new[]
        {
            "42", "\"text\"", "[]", "true", "{\"a\":\"\\u0000\"}", "{\"\\u0000\":1}", "{\"a\":\"\\ud800\"}", "{\"a\":\"" + new string('y', 4100) + "\"}",
            string.Concat(Enumerable.Repeat("{\"a\":", 20)) + "1" + new string('}', 20),
        };
        foreach (var value in metaValues)
        {
            yield return new Attack($"create key meta={value[..Math.Min(30, value.Length)]}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"meta":{{value}}}"""), admin);
            yield return new Attack($"patch key meta={value[..Math.Min(30, value.Length)]}", HttpMethod.Patch, keyPath, Utf8($$"""{"meta":{{value}}}"""), admin);
        }

        foreach (var value in new[] { "\"yes\"", "1", "null", "[]" })
        {
            yield return new Attack($"patch key enabled={value}", HttpMethod.Patch, keyPath, Utf8($$"""{"enabled":{{value}}}"""), admin);
        }

        foreach (var value in new[] { "-1", "9007199254740993", "\"5\"", "1.5", "true", "[]", "{}" })
        {
            yield return new Attack($"create key remaining={value}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"remaining":{{value}}}"""), admin);
            yield return new Attack($"patch key remaining={value}", HttpMethod.Patch, keyPath, Utf8($$"""{"remaining":{{value}}}"""), admin);
            yield return new Attack($"verify cost={value}", HttpMethod.Post, "/v1/keys/verify", Utf8($$"""{"token":"uk_x","cost":{{value}}}"""), null);
        }

        foreach (var value in new[] { "{}", "\"daily\"", "{\"interval\":\"hourly\",\"amount\":1}", "{\"interval\":\"daily\",\"amount\":-1}", "{\"interval\":null,\"amount\":1}", "[1]" })
        {
            yield return new Attack($"create key refill={value}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"refill":{{value}}}"""), admin);
            yield return new Attack($"patch key refill={value}", HttpMethod.Patch, keyPath, Utf8($$"""{"refill":{{value}}}"""), admin);
        }

        foreach (var value in new[]
        {
            "{}", "[1]", "[{}]", "[{\"name\":\"a\",\"limit\":0,\"duration_ms\":1000}]", "[{\"name\":\"\",\"limit\":1,\"duration_ms\":1000}]",
            "[{\"name\":\"a\",\"limit\":1,\"duration_ms\":999}]", "[{\"name\":\"a\",\"limit\":\"1\",\"duration_ms\":1000}]",
            "[" + string.Join(",", Enumerable.Range(0, 6).Select(i => $"{{\"name\":\"n{i}\",\"limit\":1,\"duration_ms\":1000}}")) + "]",
        })
        {
            yield return new Attack($"create key rate_limits={value[..Math.Min(40, value.Length)]}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"rate_limits":{{value}}}"""), admin);
            yield return new Attack($"patch key rate_limits={value[..Math.Min(40, value.Length)]}", HttpMethod.Patch, keyPath, Utf8($$"""{"rate_limits":{{value}}}"""), admin);
        }

        foreach (var value in new[] { "-1", "604801", "\"60\"", "1.5", "1e3", "true", "2147483648" })
        {
            yield return new Attack($"roll grace_seconds={value}", HttpMethod.Post, $"{keyPath}/roll", Utf8($$"""{"grace_seconds":{{value}}}"""), admin);
        }

        foreach (var expiry in new[] { "\"1999-01-01T00:00:00Z\"", "\"99999-01-01T00:00:00Z\"", "\"2030-13-45T99:00:00Z\"", "\"2030-01-01\"", "\"2030-01-01T00:00:00\"", "1893456000" })
        {
            yield return new Attack($"key expires_at={expiry}", HttpMethod.Post, $"/v1/users/{member.Id}/keys", Utf8($$"""{"expires_at":{{expiry}}}"""), admin);
        }

        var badQueries = new[]
        {
            "limit=0", "limit=-1", "limit=101", "limit=1e2", "limit=0x10", "limit=%20", "limit=abc", "limit=1;DROP%20TABLE%20users", "limit=99999999999999999999",
            "offset=-1", "offset=-0.5", "offset=abc", "offset=2147483648", "offset=1%27%20OR%201=1", "offset=", "limit=5&limit=6", "offset=1&offset=2",
            "after=", "after=%27%20OR%201=1--", "after=AAAA", "after=" + new string('A', 44), "after=" + new string('_', 44), "after=" + new string('A', 4000),
            "after=x&offset=1", "email=", "email=%00@x.y", "email=a@b.c&limit=5", "email=a@b.c&after=x", "include=users", "include=keys,users", "include=",
        };
        foreach (var query in badQueries)
        {
            yield return new Attack($"list ?{query}", HttpMethod.Get, $"/v1/users?{query}", null, admin);
        }

        var badPaths = new[]
        {
            "/v1/users/abc", "/v1/users/1%20OR%201=1", "/v1/users/99999999999999999999", "/v1/users/-1", "/v1/users/0",
            $"/v1/users/{long.MaxValue}", $"/v1/users/{member.Id}/keys/abc/revoke", $"/v1/users/{member.Id}/keys/-5", "/v1/users/%2500",
            "/v1/userz", "/v1", "/v1/users/me/keys",
        };
        foreach (var path in badPaths)
        {
            yield return new Attack($"GET {path}", HttpMethod.Get, path, null, admin);
            yield return new Attack($"DELETE {path}", HttpMethod.Delete, path, null, admin);
        }

        // An Accept header that allows no JSON (a browser's, say) still gets a problem+json body, never a 5xx or an empty 4xx.
        foreach (var accept in new[] { "text/html", "application/xml", "text/plain, image/*" })
        {
            yield return new Attack($"GET /v1/nope Accept {accept}", HttpMethod.Get, "/v1/nope", null, admin, accept);
            yield return new Attack($"DELETE /healthz Accept {accept}", HttpMethod.Delete, "/healthz", null, null, accept);
            yield return new Attack($"GET /v1/users/me no token Accept {accept}", HttpMethod.Get, "/v1/users/me", null, null, accept);
            yield return new Attack($"GET /v1/users/me bad token Accept {accept}", HttpMethod.Get, "/v1/users/me", null, "Bearer uk_nope", accept);
            yield return new Attack($"GET missing user Accept {accept}", HttpMethod.Get, $"/v1/users/{long.MaxValue}", null, admin, accept);
            yield return new Attack($"GET ?limit=abc Accept {accept}", HttpMethod.Get, "/v1/users?limit=abc", null, admin, accept);
            yield return new Attack($"POST /v1/users bad email Accept {accept}", HttpMethod.Post, "/v1/users", Utf8("""{"email":"nope"}"""), admin, accept);
        }

        var token = member.Token;
        var badAuthorizations = new[]
        {
            "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + token[..^1], "Bearer " + token + "a", "Bearer " + token.ToUpperInvariant(),
            "Bearer " + token[..^1] + (token[^1] == 'A' ? 'B' : 'A'), "Bearer " + ApiToken.Generate().Token, "Bearer uk_", "Bearer uk_" + new string('0', 49),
            "Bearer " + token.Replace("uk_", "UK_", StringComparison.Ordinal), "Bearer " + new string('a', 8000), "Bearer\t" + token[..^2], "Bearer " + token + " " + token,
            "Bearer '; DROP TABLE api_keys; --", "Bearer \u00e9\u00e9\u00e9",
        };
        var protectedEndpoints = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, "/v1/users/me"), (HttpMethod.Get, "/v1/users?limit=1"), (HttpMethod.Post, "/v1/users"),
            (HttpMethod.Delete, $"/v1/users/{member.Id}"), (HttpMethod.Post, "/v1/provision"), (HttpMethod.Get, $"/v1/users/{member.Id}/keys"),
        };
        foreach (var authorization in badAuthorizations)
        {
            foreach (var (method, path) in protectedEndpoints)
            {
                yield return new Attack($"{method} {path} with Authorization '{authorization[..Math.Min(20, authorization.Length)]}'",
                    method, path, method == HttpMethod.Post ? Utf8("""{"email":"x@example.com"}""") : null, authorization);
            }
        }
    }

    [Fact]
    public async Task Every_malformed_request_is_a_4xx_problem_and_changes_nothing()
    {
        var member = await api.CreateUserWithKey();
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var rowsBefore = await connection.ExecuteScalarAsync<long>(TestSql.Get("count_all_rows"));
        var corpus = Corpus(member, api.AdminToken).ToList();
        using var client = api.Client();
        var failures = new List<string>();
        var statuses = new Dictionary<int, int>();

        foreach (var attack in corpus)
        {
            using var request = new HttpRequestMessage(attack.Method, attack.Path);
            if (attack.Body is not null)
            {
                request.Content = new ByteArrayContent(attack.Body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }

            if (attack.Authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", attack.Authorization);
            }

            if (attack.Accept is not null)
            {
                request.Headers.TryAddWithoutValidation("Accept", attack.Accept);
            }

            using var response = await client.SendAsync(request);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            var body = await response.Content.ReadAsStringAsync();
            if (status is < 400 or >= 500 || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                failures.Add($"{attack.Name}: {status} {response.Content.Headers.ContentType?.MediaType} {body[..Math.Min(200, body.Length)]}");
            }
            else if (body.Contains(member.Token, StringComparison.Ordinal) || body.Contains(api.AdminToken, StringComparison.Ordinal))
            {
                failures.Add($"{attack.Name}: a token is echoed in the error body");
            }
        }

        var rowsAfter = await connection.ExecuteScalarAsync<long>(TestSql.Get("count_all_rows"));
        output.WriteLine($"hostile corpus: {corpus.Count} requests; statuses {string.Join(", ", statuses.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key}: {pair.Value}"))}; rows before {rowsBefore}, after {rowsAfter}");
        Assert.True(corpus.Count >= 300, $"only {corpus.Count} requests in the corpus");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)));
        Assert.Equal(rowsBefore, rowsAfter);
    }
}
