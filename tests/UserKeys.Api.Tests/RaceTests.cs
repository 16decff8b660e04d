using System.Net;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>Many requests at once on the same rows: the database's rules hold and no request is a 5xx.</summary>
public sealed class RaceTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private const int Concurrency = 50;

    [Fact]
    public async Task Fifty_creates_of_one_email_in_mixed_case_make_one_user_and_49_conflicts()
    {
        var email = Http.Email("race");
        var variants = Enumerable.Range(0, Concurrency).Select(i => (i % 3) switch
        {
            0 => email,
            1 => email.ToUpperInvariant(),
            _ => char.ToUpperInvariant(email[0]) + email[1..],
        }).ToList();
        using var admin = api.Admin();

        var responses = await Task.WhenAll(variants.Select(variant => admin.PostJson("/v1/users", new { email = variant })));

        Assert.Equal(1, responses.Count(response => response.StatusCode == HttpStatusCode.Created));
        Assert.Equal(Concurrency - 1, responses.Count(response => response.StatusCode == HttpStatusCode.Conflict));
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_users_with_email"), new { email }));
    }

    [Fact]
    public async Task Fifty_patches_swapping_two_emails_keep_them_unique_and_never_fail_with_5xx()
    {
        var one = await api.CreateUserWithKey();
        var two = await api.CreateUserWithKey();
        using var admin = api.Admin();

        var responses = await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(i => i % 2 == 0
            ? admin.PatchJson($"/v1/users/{one.Id}", new { email = two.Email })
            : admin.PatchJson($"/v1/users/{two.Id}", new { email = one.Email })));

        Assert.All(responses, response => Assert.True(
            response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"got {(int)response.StatusCode}"));
        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var emails = (await connection.QueryAsync<string>(TestSql.Get("emails_of_users"), new { ids = new[] { one.Id, two.Id } })).ToList();
        Assert.Equal(2, emails.Count);
        Assert.Equal(2, emails.Distinct().Count());
    }

    [Fact]
    public async Task Fifty_revokes_of_one_key_all_succeed_with_one_revoked_at()
    {
        var member = await api.CreateUserWithKey();
        var key = await api.IssueKey(member.Id);
        using var admin = api.Admin();

        var responses = await Task.WhenAll(Enumerable.Range(0, Concurrency)
            .Select(_ => admin.PostAsync($"/v1/users/{member.Id}/keys/{key.Long("id")}/revoke", null)));

        Assert.All(responses, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        var revokedAt = await Task.WhenAll(responses.Select(async response => (await response.Json()).Str("revoked_at")));
        Assert.Single(revokedAt.Distinct());
    }
}

public sealed class ClientGoneTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task A_client_that_leaves_in_the_middle_of_a_write_leaves_no_row_and_no_open_transaction()
    {
        await using (var setup = await api.Database.DataSource.OpenConnectionAsync())
        {
            await setup.ExecuteAsync(TestSql.Get("inject_slow_key_insert"));
        }

        using var admin = api.Admin();
        var emails = Enumerable.Range(0, 5).Select(i => Http.Email($"gone{i}")).ToList();
        var attempts = emails.Select(async email =>
        {
            // The user insert is done and the key insert is sleeping when the client gives up.
            using var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(600));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                admin.PostAsync("/v1/provision", System.Net.Http.Json.JsonContent.Create(new { email, key_name = "slow" }), impatient.Token));
        });
        await Task.WhenAll(attempts);

        await using var connection = await api.Database.DataSource.OpenConnectionAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long open;
        do
        {
            await Task.Delay(200);
            open = await connection.ExecuteScalarAsync<long>(TestSql.Get("count_idle_in_transaction"));
        }
        while (open > 0 && DateTime.UtcNow < deadline);

        Assert.Equal(0, open);
        foreach (var email in emails)
        {
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_users_with_email"), new { email }));
        }

        // And the service is fine afterwards.
        await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
    }
}
