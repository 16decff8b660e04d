using System.Net;
using System.Text.Json;

namespace UserKeys.Api.Tests;

public sealed class ListingTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static List<JsonElement> Items(JsonElement page) => page.GetProperty("items").EnumerateArray().ToList();

    private async Task<List<long>> CreateUsers(int count)
    {
        using var admin = api.Admin();
        var ids = new List<long>();
        for (var i = 0; i < count; i++)
        {
            ids.Add((await (await admin.PostJson("/v1/users", new { email = Http.Email($"list{i}") })).Expect(HttpStatusCode.Created)).Long("id"));
        }

        return ids;
    }

    /// <summary>Every page of the keyset listing, following next_cursor to the end.</summary>
    private async Task<List<JsonElement>> WalkKeyset(HttpClient client, int limit, string extra = "")
    {
        var all = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var path = $"/v1/users?limit={limit}{extra}" + (cursor is null ? "" : $"&after={Uri.EscapeDataString(cursor)}");
            var page = await (await client.GetAsync(path)).Expect(HttpStatusCode.OK);
            var items = Items(page);
            Assert.True(items.Count <= limit);
            all.AddRange(items);
            cursor = page.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : page.Str("next_cursor");
            Assert.True(cursor is null || items.Count == limit, "only the last page may be short");
        }
        while (cursor is not null);

        return all;
    }

    [Fact]
    public async Task Keyset_paging_walks_every_user_once_newest_first()
    {
        var mine = await CreateUsers(12);
        using var admin = api.Admin();

        var walked = await WalkKeyset(admin, limit: 5);

        var ids = walked.Select(user => user.Long("id")).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Superset(mine.ToHashSet(), ids.ToHashSet());
        var order = walked.Select(user => (user.Str("created_at"), user.Long("id"))).ToList();
        Assert.Equal(order.OrderByDescending(pair => pair.Item1, StringComparer.Ordinal).ThenByDescending(pair => pair.Item2), order);
        Assert.Equal(mine.AsEnumerable().Reverse(), ids.Where(mine.Contains));
    }

    [Fact]
    public async Task The_default_page_is_50_and_the_last_page_has_a_null_cursor()
    {
        using var admin = api.Admin();
        var first = await (await admin.GetAsync("/v1/users")).Expect(HttpStatusCode.OK);
        Assert.True(Items(first).Count <= 50);

        var all = await (await admin.GetAsync("/v1/users?limit=100")).Expect(HttpStatusCode.OK);
        if (Items(all).Count < 100)
        {
            Assert.Equal(JsonValueKind.Null, all.GetProperty("next_cursor").ValueKind);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("&include=keys")]
    public async Task A_page_of_100_is_full_and_has_a_next_cursor_when_more_users_follow(string include)
    {
        // The keyset statements cap their scan at the largest page plus one (LIMIT 101): a cap below
        // that would end a full page of 100 with a null cursor.
        await CreateUsers(101);
        using var admin = api.Admin();

        var first = await (await admin.GetAsync($"/v1/users?limit=100{include}")).Expect(HttpStatusCode.OK);
        Assert.Equal(100, Items(first).Count);
        var cursor = first.Str("next_cursor");
        var second = await (await admin.GetAsync($"/v1/users?limit=100{include}&after={Uri.EscapeDataString(cursor)}")).Expect(HttpStatusCode.OK);
        Assert.NotEmpty(Items(second));
        Assert.Empty(Items(first).Select(user => user.Long("id")).Intersect(Items(second).Select(user => user.Long("id"))));
        if (Items(second).Count == 100)
        {
            Assert.NotEqual(JsonValueKind.Null, second.GetProperty("next_cursor").ValueKind);
        }
    }

    [Fact]
    public async Task Offset_paging_reports_total_limit_and_offset_and_matches_keyset_order()
    {
        await CreateUsers(4);
        using var admin = api.Admin();

        var keyset = await WalkKeyset(admin, limit: 100);
        var page = await (await admin.GetAsync("/v1/users?limit=3&offset=1")).Expect(HttpStatusCode.OK);

        Assert.True(page.Long("total") >= keyset.Count);
        Assert.Equal(3, page.GetProperty("limit").GetInt32());
        Assert.Equal(1, page.GetProperty("offset").GetInt32());
        Assert.False(page.TryGetProperty("next_cursor", out _));
        Assert.Equal(keyset.Skip(1).Take(3).Select(user => user.Long("id")), Items(page).Select(user => user.Long("id")));
        var beyond = await (await admin.GetAsync($"/v1/users?offset={int.MaxValue}")).Expect(HttpStatusCode.OK);
        Assert.Empty(Items(beyond));
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=101")]
    [InlineData("limit=-1")]
    [InlineData("limit=abc")]
    [InlineData("limit=1.5")]
    [InlineData("limit=")]
    [InlineData("limit=99999999999999999999")]
    [InlineData("limit=1&limit=2")]
    [InlineData("offset=-1")]
    [InlineData("offset=abc")]
    [InlineData("offset=2147483648")]
    [InlineData("offset=")]
    [InlineData("after=garbage")]
    [InlineData("after=")]
    [InlineData("after=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("include=everything")]
    [InlineData("offset=0&after=x")]
    public async Task Bad_query_values_are_400_not_a_silent_clamp(string query)
    {
        using var admin = api.Admin();
        var problem = await (await admin.GetAsync($"/v1/users?{query}")).Expect(HttpStatusCode.BadRequest);
        Assert.True(problem.TryGetProperty("errors", out _));
    }

    [Fact]
    public async Task An_edited_or_truncated_cursor_is_400()
    {
        await CreateUsers(3);
        using var admin = api.Admin();
        var page = await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
        var cursor = page.Str("next_cursor");
        var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(cursor);

        foreach (var position in new[] { 1, 5, 9, 12, 20, 32 })
        {
            var edited = (byte[])bytes.Clone();
            edited[position] ^= 0x01;
            var forged = System.Buffers.Text.Base64Url.EncodeToString(edited);
            await (await admin.GetAsync($"/v1/users?after={Uri.EscapeDataString(forged)}")).Expect(HttpStatusCode.BadRequest);
        }

        await (await admin.GetAsync($"/v1/users?after={Uri.EscapeDataString(cursor[..^2])}")).Expect(HttpStatusCode.BadRequest);
        await (await admin.GetAsync($"/v1/users?after={Uri.EscapeDataString(cursor + "AA")}")).Expect(HttpStatusCode.BadRequest);
        await (await admin.GetAsync($"/v1/users?after={Uri.EscapeDataString(cursor)}")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Include_keys_adds_every_users_keys()
    {
        var owner = await api.CreateUserWithKey();
        var second = await api.IssueKey(owner.Id, new { name = "second" });
        using var admin = api.Admin();

        var keyset = await WalkKeyset(admin, limit: 7, "&include=keys");
        var offset = await (await admin.GetAsync("/v1/users?limit=100&offset=0&include=keys")).Expect(HttpStatusCode.OK);
        var lookup = await (await admin.GetAsync($"/v1/users?email={Uri.EscapeDataString(owner.Email)}&include=keys")).Expect(HttpStatusCode.OK);

        foreach (var user in keyset.Concat(Items(offset)).Concat(Items(lookup)))
        {
            Assert.Equal(JsonValueKind.Array, user.GetProperty("keys").ValueKind);
            Assert.All(user.GetProperty("keys").EnumerateArray(), key => Assert.Equal(user.Long("id"), key.Long("user_id")));
            Assert.All(user.GetProperty("keys").EnumerateArray(), key => Assert.False(key.TryGetProperty("token", out _)));
        }

        var ownerKeys = Items(lookup).Single().GetProperty("keys").EnumerateArray().Select(key => key.Long("id"));
        Assert.Equal([owner.KeyId, second.Long("id")], ownerKeys);
    }

    [Fact]
    public async Task Include_keys_sends_the_same_number_of_statements_for_10_and_for_100_users()
    {
        // Enough users with keys that a page of 100 is full.
        using var admin = api.Admin();
        for (var i = 0; i < 100; i++)
        {
            await api.CreateUserWithKey();
        }

        using var counter = new StatementCounter(api.Database.Name);
        await (await admin.GetAsync("/v1/users?limit=10&include=keys")).Expect(HttpStatusCode.OK); // warm: cursor key, last_used_at

        var ten = await counter.Measure(async () =>
            Assert.Equal(10, Items(await (await admin.GetAsync("/v1/users?limit=10&include=keys")).Expect(HttpStatusCode.OK)).Count));
        var hundred = await counter.Measure(async () =>
            Assert.Equal(100, Items(await (await admin.GetAsync("/v1/users?limit=100&include=keys")).Expect(HttpStatusCode.OK)).Count));
        var plain = await counter.Measure(async () =>
            Assert.Equal(100, Items(await (await admin.GetAsync("/v1/users?limit=100")).Expect(HttpStatusCode.OK)).Count));
        var offsetTen = await counter.Measure(async () =>
            Assert.Equal(10, Items(await (await admin.GetAsync("/v1/users?limit=10&offset=5&include=keys")).Expect(HttpStatusCode.OK)).Count));
        var offsetHundred = await counter.Measure(async () =>
            Assert.Equal(100, Items(await (await admin.GetAsync("/v1/users?limit=100&offset=0&include=keys")).Expect(HttpStatusCode.OK)).Count));
        var offsetPlain = await counter.Measure(async () =>
            Assert.Equal(100, Items(await (await admin.GetAsync("/v1/users?limit=100&offset=0")).Expect(HttpStatusCode.OK)).Count));

        Assert.Equal(ten, hundred);
        // The page and its keys are one joined statement (the caller's key is cached: no auth statement).
        Assert.Equal(1, hundred);
        Assert.Equal(plain, hundred);
        Assert.Equal(offsetTen, offsetHundred);
        Assert.Equal(offsetPlain, offsetHundred);
    }
}
