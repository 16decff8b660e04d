using System.Net;
using Dapper;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary><c>UserKeys.Api bootstrap-admin</c> as an operator runs it: TOKEN=$(...).</summary>
public sealed class BootstrapAdminCommandTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task It_creates_the_admin_prints_only_the_token_and_a_second_run_issues_another_key()
    {
        var email = Http.Email("root");

        var first = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", email, "--name", "Root");
        var second = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", email.ToUpperInvariant());

        foreach (var run in new[] { first, second })
        {
            Assert.Equal(0, run.ExitCode);
            Assert.Matches("^uk_[0-9A-Za-z]{49}\n$", run.StandardOutput);
            Assert.DoesNotContain(run.StandardOutput.Trim(), run.StandardError);
            api.IssuedTokens.Add(run.StandardOutput.Trim());
        }

        Assert.NotEqual(first.StandardOutput, second.StandardOutput);
        using var client = api.Client(first.StandardOutput.Trim());
        var me = await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
        Assert.Equal("admin", me.Str("role"));
        Assert.Equal("Root", me.Str("name"));
        var keys = await (await client.GetAsync($"/v1/users/{me.Long("id")}/keys")).Expect(HttpStatusCode.OK);
        Assert.Equal(2, keys.GetProperty("items").GetArrayLength());
        using var secondClient = api.Client(second.StandardOutput.Trim());
        Assert.Equal(me.Long("id"), (await (await secondClient.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Long("id"));
    }

    [Fact]
    public async Task A_member_with_that_email_is_refused_without_promote_and_promoted_with_it()
    {
        var member = await api.CreateUserWithKey();
        using var client = api.Client(member.Token);

        foreach (var flags in new[] { Array.Empty<string>(), ["--if-missing"] })
        {
            var refused = await CliProcess.RunAsync(api.Database.ConnectionString, ["bootstrap-admin", "--email", member.Email, .. flags]);
            Assert.Equal(4, refused.ExitCode);
            Assert.Empty(refused.StandardOutput);
            Assert.Contains("--promote", refused.StandardError, StringComparison.Ordinal);
            Assert.Equal("member", (await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Str("role"));
        }

        var run = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", member.Email, "--promote");

        Assert.Equal(0, run.ExitCode);
        api.IssuedTokens.Add(run.StandardOutput.Trim());
        Assert.Equal("admin", (await (await client.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Str("role"));
    }

    [Fact]
    public async Task A_promotion_says_how_many_keys_the_member_held_and_only_the_token_goes_to_stdout()
    {
        var member = await api.CreateUserWithKey();
        await api.IssueKey(member.Id);
        await api.IssueKey(member.Id);

        var run = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", member.Email, "--promote");

        Assert.Equal(0, run.ExitCode);
        var token = run.StandardOutput.Trim();
        api.IssuedTokens.Add(token);
        Assert.Matches("^uk_[0-9A-Za-z]+$", token);
        Assert.Contains("held 3 key(s)", run.StandardError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bootstrap-admin")]
    [InlineData("bootstrap-admin", "--email")]
    [InlineData("bootstrap-admin", "--email", "not-an-email")]
    public async Task Bad_arguments_exit_2_and_print_nothing_on_stdout(params string[] args)
    {
        var run = await CliProcess.RunAsync(api.Database.ConnectionString, args);
        Assert.Equal(2, run.ExitCode);
        Assert.Empty(run.StandardOutput);
    }

    [Fact]
    public async Task An_unmigrated_database_exits_3_and_creates_nothing()
    {
        await using var empty = await PostgresServer.CreateEmptyDatabaseAsync();

        var run = await CliProcess.RunAsync(empty.ConnectionString, "bootstrap-admin", "--email", Http.Email());

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("migrate", run.StandardError);
        Assert.Empty(run.StandardOutput);
        await using var connection = await empty.DataSource.OpenConnectionAsync();
        Assert.False(await connection.ExecuteScalarAsync<bool>(TestSql.Get("relation_exists"), new { name = "users" }));
    }
}

public sealed class BootstrapIfMissingTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task If_missing_issues_a_token_the_first_time_only()
    {
        var email = Http.Email("local-admin");

        var first = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", email, "--if-missing");
        var second = await CliProcess.RunAsync(api.Database.ConnectionString, "bootstrap-admin", "--email", email, "--if-missing");

        Assert.Equal(0, first.ExitCode);
        Assert.Matches("^uk_[0-9A-Za-z]{49}\n$", first.StandardOutput);
        api.IssuedTokens.Add(first.StandardOutput.Trim());
        Assert.Equal(0, second.ExitCode);
        Assert.Empty(second.StandardOutput);
        using var client = api.Client(first.StandardOutput.Trim());
        var me = await (await client.GetAsync("/v1/users/me")).Expect(System.Net.HttpStatusCode.OK);
        var keys = await (await client.GetAsync($"/v1/users/{me.Long("id")}/keys")).Expect(System.Net.HttpStatusCode.OK);
        Assert.Equal(1, keys.GetProperty("items").GetArrayLength());
    }
}
