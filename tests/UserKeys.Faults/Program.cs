using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;

// UserKeys.Faults <service url> <admin token> <connection string> <pg-local script>
// Phase 1: 16 clients provision users while PostgreSQL is stopped (fast) and started again.
// Phase 2: PostgreSQL down: readiness and every endpoint answer 503 quickly; then it comes back.
// Prints what it sent, injected and checked; exits 1 on any violation.
// UserKeys.Faults failover <UserKeys.Api.dll> <output folder>: the failover drill (Failover.cs).
if (args.Length == 3 && args[0] == "failover")
{
    return await Failover.RunAsync(args[1], args[2]);
}

if (args.Length < 4)
{
    await Console.Error.WriteLineAsync("usage: UserKeys.Faults <service url> <admin token> <connection string> <pg-local script>");
    return 2;
}

var (url, token, connectionString, pgLocal) = (args[0].TrimEnd('/'), args[1], args[2], args[3]);
const int Clients = 16;
const int MinimumRequests = 200;
var violations = new ConcurrentQueue<string>();
var run = DateTime.UtcNow.ToString("HHmmss", System.Globalization.CultureInfo.InvariantCulture);
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
{
    BaseAddress = new Uri(url),
    Timeout = TimeSpan.FromSeconds(15),
};
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
var clock = Stopwatch.StartNew();

// ---- Phase 1: restart under load -----------------------------------------------------------
var results = new ConcurrentBag<Outcome>();
var faultsInjected = 0;
TimeSpan? stoppedAt = null, upAt = null, readyAgainAt = null, servingAgainAt = null;
using var loadEnd = new CancellationTokenSource();
var workers = Enumerable.Range(0, Clients).Select(worker => Task.Run(async () =>
{
    for (var n = 0; !loadEnd.IsCancellationRequested; n++)
    {
        var email = $"faults-{run}-{worker}-{n}@example.com";
        var started = clock.Elapsed;
        Outcome outcome;
        try
        {
            using var response = await http.PostAsJsonAsync("/v1/provision", new { email, key_name = "faults" });
            var body = await response.Content.ReadAsStringAsync();
            outcome = new Outcome(email, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body, started, clock.Elapsed);
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            outcome = new Outcome(email, 0, null, error.GetType().Name + ": " + error.Message, started, clock.Elapsed);
        }

        results.Add(outcome);
        if (outcome.Status == 201 && upAt is { } up && outcome.Started >= up)
        {
            lock (results)
            {
                servingAgainAt ??= outcome.Finished;
            }
        }
    }
})).ToList();

await WaitUntil(() => results.Count >= 60, TimeSpan.FromSeconds(30));
stoppedAt = clock.Elapsed;
await PgLocal("stop");
faultsInjected++;
await Task.Delay(TimeSpan.FromSeconds(2));
await PgLocal("start");
upAt = clock.Elapsed;
using (var probe = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) })
{
    while (clock.Elapsed - upAt < TimeSpan.FromSeconds(15))
    {
        try
        {
            if ((await probe.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK)
            {
                readyAgainAt = clock.Elapsed;
                break;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(50);
    }
}

await WaitUntil(() => results.Count >= MinimumRequests && clock.Elapsed - upAt > TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60));
await loadEnd.CancelAsync();
await Task.WhenAll(workers);

var all = results.ToList();
var created = all.Where(outcome => outcome.Status == 201).ToList();
foreach (var outcome in all.Where(outcome => outcome.Status != 201))
{
    if (outcome.Status != 503 || outcome.MediaType != "application/problem+json")
    {
        violations.Enqueue($"provision {outcome.Email}: {outcome.Status} {outcome.MediaType} {Shorten(outcome.Body)}");
    }
}

await using var dataSource = NpgsqlDataSource.Create(connectionString);
await using (var connection = await dataSource.OpenConnectionAsync())
{
    foreach (var outcome in created)
    {
        using var document = JsonDocument.Parse(outcome.Body);
        var userId = document.RootElement.GetProperty("user").GetProperty("id").GetInt64();
        var keyId = document.RootElement.GetProperty("key").GetProperty("id").GetInt64();
        if (await connection.ExecuteScalarAsync<long>(FaultSql.Get("user_and_key_exist"), new { user_id = userId, key_id = keyId, email = outcome.Email }) != 1)
        {
            violations.Enqueue($"201 for {outcome.Email} but its user {userId} or key {keyId} is missing");
        }
    }

    var emails = all.Select(outcome => outcome.Email).ToArray();
    var withoutKeys = await connection.ExecuteScalarAsync<long>(FaultSql.Get("users_without_keys"), new { emails });
    if (withoutKeys != 0)
    {
        violations.Enqueue($"{withoutKeys} user(s) exist without their key");
    }

    var rows = await connection.ExecuteScalarAsync<long>(FaultSql.Get("count_users_with_emails"), new { emails });
    Console.WriteLine($"phase 1 (restart under load): {all.Count} provisions from {Clients} clients; {created.Count} x 201, " +
        $"{all.Count(outcome => outcome.Status == 503)} x 503, {all.Count(outcome => outcome.Status is not (201 or 503))} other; " +
        $"PostgreSQL stopped (fast) at {stoppedAt:s\\.ff} s and accepting again at {upAt:s\\.ff} s; /readyz 200 after " +
        $"{Seconds(readyAgainAt - upAt)} s, first 201 begun after the restart done after {Seconds(servingAgainAt - upAt)} s; " +
        $"rows checked: {created.Count} users with keys, {rows} users among {emails.Length} emails, {withoutKeys} without a key");
}

if (all.Count < MinimumRequests)
{
    violations.Enqueue($"only {all.Count} provisions were sent");
}

if (readyAgainAt is null || readyAgainAt - upAt > TimeSpan.FromSeconds(5))
{
    violations.Enqueue($"/readyz was not 200 within 5 s of PostgreSQL accepting connections ({Seconds(readyAgainAt - upAt)} s)");
}

if (servingAgainAt is null || servingAgainAt - upAt > TimeSpan.FromSeconds(5))
{
    violations.Enqueue($"no request succeeded within 5 s of PostgreSQL accepting connections ({Seconds(servingAgainAt - upAt)} s)");
}

// ---- Phase 2: database down ----------------------------------------------------------------
await PgLocal("stop");
faultsInjected++;
var downChecks = 0;
var endpoints = new (string Method, string Path, object? Body)[]
{
    ("GET", "/readyz", null),
    ("GET", "/v1/users/me", null),
    ("GET", "/v1/users/1", null),
    ("GET", "/v1/users?limit=5", null),
    ("GET", "/v1/users?limit=5&offset=5&include=keys", null),
    ("POST", "/v1/users", new { email = $"down-{run}@example.com" }),
    ("PATCH", "/v1/users/1", new { name = "down" }),
    ("DELETE", "/v1/users/999999999", null),
    ("POST", "/v1/users/1/keys", new { name = "down" }),
    ("GET", "/v1/users/1/keys", null),
    ("POST", "/v1/users/1/keys/1/revoke", null),
    ("DELETE", "/v1/users/1/keys/999999999", null),
    ("POST", "/v1/provision", new { email = $"down-p-{run}@example.com" }),
    ("POST", "/v1/keys/verify", new { token }),
};
var slowest = TimeSpan.Zero;
foreach (var (method, path, body) in endpoints)
{
    using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body is null ? null : JsonContent.Create(body) };
    var started = Stopwatch.StartNew();
    try
    {
        using var response = await http.SendAsync(request);
        var elapsed = started.Elapsed;
        slowest = elapsed > slowest ? elapsed : slowest;
        downChecks++;
        if (response.StatusCode != HttpStatusCode.ServiceUnavailable || response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            violations.Enqueue($"database down: {method} {path} answered {(int)response.StatusCode} {response.Content.Headers.ContentType?.MediaType}");
        }

        if (elapsed > TimeSpan.FromSeconds(path == "/readyz" ? 3 : 10))
        {
            violations.Enqueue($"database down: {method} {path} took {elapsed.TotalSeconds:0.0} s");
        }
    }
    catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
    {
        violations.Enqueue($"database down: {method} {path} got no answer ({error.GetType().Name})");
    }
}

await PgLocal("start");
var back = Stopwatch.StartNew();
TimeSpan? recovered = null;
while (back.Elapsed < TimeSpan.FromSeconds(15))
{
    try
    {
        var ready = await http.GetAsync("/readyz");
        var provision = await http.PostAsJsonAsync("/v1/provision", new { email = $"back-{run}-{back.ElapsedMilliseconds}@example.com" });
        if (ready.StatusCode == HttpStatusCode.OK && provision.StatusCode == HttpStatusCode.Created)
        {
            recovered = back.Elapsed;
            break;
        }
    }
    catch (HttpRequestException)
    {
    }

    await Task.Delay(100);
}

Console.WriteLine($"phase 2 (database down): {downChecks} requests answered 503 problem+json, slowest {slowest.TotalSeconds:0.00} s; " +
    $"recovered (readyz 200 and a provision 201) {Seconds(recovered)} s after PostgreSQL came back");
if (recovered is null || recovered > TimeSpan.FromSeconds(5))
{
    violations.Enqueue($"the service did not recover within 5 s ({Seconds(recovered)} s)");
}

Console.WriteLine($"faults: {all.Count + downChecks} requests sent, {faultsInjected} database outages injected, {violations.Count} violation(s)");
foreach (var violation in violations.Take(20))
{
    Console.WriteLine($"VIOLATION {violation}");
}

return violations.IsEmpty ? 0 : 1;

async Task PgLocal(string command)
{
    using var process = Process.Start(new ProcessStartInfo(pgLocal, command) { RedirectStandardOutput = true, UseShellExecute = false })!;
    await process.StandardOutput.ReadToEndAsync();
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"pg-local {command} failed ({process.ExitCode})");
    }
}

static async Task WaitUntil(Func<bool> condition, TimeSpan limit)
{
    var waited = Stopwatch.StartNew();
    while (!condition() && waited.Elapsed < limit)
    {
        await Task.Delay(20);
    }
}

static string Seconds(TimeSpan? span) => span is { } value ? value.TotalSeconds.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "never";

static string Shorten(string text) => text.Length > 160 ? text[..160] : text;

internal sealed record Outcome(string Email, int Status, string? MediaType, string Body, TimeSpan Started, TimeSpan Finished);
