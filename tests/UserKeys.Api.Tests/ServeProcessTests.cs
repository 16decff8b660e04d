using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using UserKeys.Api.Commands;
using UserKeys.Data;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>The service as an operator runs it: a process on 127.0.0.1, its configuration and its signals.</summary>
public sealed class ServeProcessTests
{

    [Theory]
    [InlineData("UserKeys__ReadinessTimeoutSeconds", "0", "ReadinessTimeoutSeconds")]
    [InlineData("UserKeys__AuthCacheSeconds", "-5", "AuthCacheSeconds")]
    [InlineData("UserKeys__ShutdownTimeoutSeconds", "abc", "ShutdownTimeoutSeconds")]
    [InlineData("ConnectionStrings__UserKeys", "Host=x;Bogus Keyword=1", "connection string")]
    [InlineData("ConnectionStrings__UserKeysListen", "Host=x;Bogus Keyword=1", "ConnectionStrings:UserKeysListen")]
    [InlineData("UserKeys__MetricsUrls", "ftp://127.0.0.1:9464", "MetricsUrls")]
    public async Task A_bad_setting_stops_the_start_with_a_message_naming_it(string name, string value, string named)
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var environment = new Dictionary<string, string> { [name] = value };

        using var process = CliProcess.Start(database.ConnectionString, environment, "--urls", $"http://127.0.0.1:{Ports.Free()}");
        var result = await CliProcess.WaitAsync(process);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.StandardError);
        Assert.DoesNotContain(new Npgsql.NpgsqlConnectionStringBuilder(database.ConnectionString).Password!, result.StandardError);
    }

    [Fact]
    public async Task Sigterm_lets_an_in_flight_write_finish_and_commit_then_exits_0()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(TestSql.Get("inject_slow_key_insert")); // keys named 'slow' take 3 s
        }

        var token = await BootstrapAdminCommand.IssueAsync(new UnitOfWorkFactory(database.DataSource), Http.Email("admin"), null, NullLogger.Instance, CancellationToken.None);
        var port = Ports.Free();
        using var service = CliProcess.Start(database.ConnectionString, "--urls", $"http://127.0.0.1:{port}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var ready = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/readyz")).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException) when (ready.Elapsed < TimeSpan.FromSeconds(30))
            {
            }

            await Task.Delay(100);
        }

        var email = Http.Email("inflight");
        var inFlight = http.PostAsync("/v1/provision", System.Net.Http.Json.JsonContent.Create(new { email, key_name = "slow" }));
        await Task.Delay(800); // the request is inside its transaction, in the slow key insert
        using (var kill = Process.Start("kill", ["-TERM", service.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        var response = await inFlight;
        var exit = await CliProcess.WaitAsync(service);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(0, exit.ExitCode);
        await using var check = await database.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await check.ExecuteScalarAsync<long>(TestSql.Get("count_users_with_email"), new { email }));
    }
}
