using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace UserKeys.Api.Tests;

/// <summary>Small helpers for talking JSON to the service and reading its answers.</summary>
internal static class Http
{
    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string path, object body) =>
        client.PostAsync(path, JsonContent.Create(body));

    public static Task<HttpResponseMessage> PostRaw(this HttpClient client, string path, string body, string contentType = "application/json") =>
        client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));

    public static Task<HttpResponseMessage> PatchJson(this HttpClient client, string path, object body) =>
        client.PatchAsync(path, JsonContent.Create(body));

    public static Task<HttpResponseMessage> PatchRaw(this HttpClient client, string path, string body) =>
        client.PatchAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

    public static async Task<JsonElement> Json(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts the status, and for errors the problem+json shape; returns the body (default when empty).</summary>
    public static async Task<JsonElement> Expect(this HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status} but got {(int)response.StatusCode}: {text}");
        if (text.Length == 0)
        {
            return default;
        }

        using var document = JsonDocument.Parse(text);
        var body = document.RootElement.Clone();
        if ((int)status >= 400)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal((int)status, body.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(body.GetProperty("title").GetString()));
            Assert.False(string.IsNullOrEmpty(body.GetProperty("detail").GetString()));
            Assert.True(body.TryGetProperty("type", out _));
        }
        else
        {
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        }

        return body;
    }

    public static string Str(this JsonElement element, string property) => element.GetProperty(property).GetString()!;

    public static long Long(this JsonElement element, string property) => element.GetProperty(property).GetInt64();

    public static bool IsNull(this JsonElement element, string property) => element.GetProperty(property).ValueKind == JsonValueKind.Null;

    public static string Email(string local = "user") => $"{local}-{Guid.NewGuid():N}@example.com";
}
