using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace UserKeys.Api.Tests;

/// <summary>A pool of one connection, waited for at most a second.</summary>
public sealed class TinyPoolFactory : ApiFactory
{
    protected override void ConfigureSettings(IWebHostBuilder builder) =>
        builder.UseSetting("ConnectionStrings:UserKeys", Database.ConnectionString + ";Maximum Pool Size=1;Timeout=1");
}

public sealed class PoolExhaustionTests(TinyPoolFactory api) : IClassFixture<TinyPoolFactory>
{
    [Fact]
    public async Task No_connection_free_in_time_is_503_with_retry_after_at_once_without_retries()
    {
        using var admin = api.Admin();
        await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK); // the key is cached: no connection needed to authenticate

        // Hold the pool's only connection, as a burst of slow requests would.
        var dataSource = api.Services.GetRequiredService<NpgsqlDataSource>();
        HttpResponseMessage response;
        var clock = Stopwatch.StartNew();
        await using (await dataSource.OpenConnectionAsync())
        {
            response = await admin.GetAsync("/v1/users?limit=1");
        }

        var problem = await response.Expect(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("1", response.Headers.RetryAfter?.ToString());
        Assert.Equal("The service is busy", problem.Str("title"));
        // One wait of Timeout (1 s), not three attempts with pool clears in between.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2.5), $"took {clock.Elapsed}");
        Assert.DoesNotContain(api.Logs.Lines, line => line.Contains("trying again", StringComparison.Ordinal));

        // The connection is back: the service serves again at once.
        await (await admin.GetAsync("/v1/users?limit=1")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Endpoints_that_run_no_statement_take_no_connection()
    {
        using var admin = api.Admin();
        var adminId = (await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK)).Long("id"); // caches the key

        // With the pool's only connection held, what needs no statement still answers, at once.
        var dataSource = api.Services.GetRequiredService<NpgsqlDataSource>();
        await using (await dataSource.OpenConnectionAsync())
        {
            var clock = Stopwatch.StartNew();
            await (await admin.GetAsync("/v1/users/me")).Expect(HttpStatusCode.OK);
            await (await admin.GetAsync($"/v1/users/{adminId}")).Expect(HttpStatusCode.OK);
            await (await admin.PostJson("/v1/keys/verify", new { token = api.AdminToken })).Expect(HttpStatusCode.OK);
            await (await admin.GetAsync("/healthz")).Expect(HttpStatusCode.OK);
            // Refused before any database work: the body is read and checked first.
            await (await admin.PostJson("/v1/users", new { email = "no-at-sign" })).Expect(HttpStatusCode.BadRequest);
            await (await admin.GetAsync("/v1/users?limit=0")).Expect(HttpStatusCode.BadRequest);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}: something waited for the pool");
        }
    }
}
