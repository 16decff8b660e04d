using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Dapper;
using Npgsql;
using UserKeys.Testing;

/// <summary>
/// The failover drill (issue 13): a primary and a synchronous standby on 127.0.0.1 (<see cref="PostgresPair"/>), the
/// service given both hosts with <c>UserKeys__ReadFromStandbys=true</c>. 16 clients provision users and 2 read one back;
/// then the primary is stopped (immediate: a crash) and the standby promoted. The service, never restarted, must serve
/// reads throughout, write again within 10 s, put every 201 on the new primary, and answer everything else with a 503
/// problem. Bounded: about 15 s of load, 15 s request timeouts.
/// </summary>
internal static class Failover
{
    private const int Writers = 16;
    private const int Readers = 2;

    public static async Task<int> RunAsync(string apiAssembly, string outputFolder)
    {
        var violations = new ConcurrentQueue<string>();
        var run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
        var total = Stopwatch.StartNew();
        await using var pair = await PostgresPair.StartAsync(synchronous: true);
        await Console.Error.WriteLineAsync($"failover: pair up after {Seconds(total.Elapsed)} s");
        var migrate = await RunApiAsync(apiAssembly, pair.PrimaryConnectionString, "migrate");
        var token = (await RunApiAsync(apiAssembly, pair.PrimaryConnectionString, "bootstrap-admin", "--email", $"failover-{run}@example.com")).Trim();
        Directory.CreateDirectory(outputFolder);
        await File.WriteAllTextAsync(Path.Combine(outputFolder, "failover-migrate.log"), migrate);

        var port = Ports.Free();
        using var service = StartService(apiAssembly, port, pair.MultiHostConnectionString + ";Timeout=3", Path.Combine(outputFolder, "failover-service.log"));
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 })
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}"),
                Timeout = TimeSpan.FromSeconds(15),
            };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var ready = await Poll.UntilAsync(async () => await StatusAsync(http, "/readyz"), status => status == 200, TimeSpan.FromSeconds(60));
            await Console.Error.WriteLineAsync($"failover: service ready after {Seconds(total.Elapsed)} s");
            if (ready.Value != 200)
            {
                Console.WriteLine($"failover: the service did not become ready ({ready.Value})");
                return 1;
            }

            // The user the readers read back, once the standby has it.
            using var seeded = await http.PostAsJsonAsync("/v1/users", new { email = $"failover-read-{run}@example.com" });
            var readPath = $"/v1/users/{JsonDocument.Parse(await seeded.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetInt64()}";
            await Poll.UntilAsync(async () => await StatusAsync(http, readPath), status => status == 200, TimeSpan.FromSeconds(10));

            await Console.Error.WriteLineAsync($"failover: seeded after {Seconds(total.Elapsed)} s");
            var clock = Stopwatch.StartNew();
            var writes = new ConcurrentBag<Outcome>();
            var reads = new ConcurrentBag<(int Status, TimeSpan Started, TimeSpan Finished)>();
            using var end = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(worker => Task.Run(async () =>
            {
                for (var n = 0; !end.IsCancellationRequested; n++)
                {
                    var email = $"failover-{run}-{worker}-{n}@example.com";
                    var started = clock.Elapsed;
                    try
                    {
                        using var response = await http.PostAsJsonAsync("/v1/provision", new { email, key_name = "failover" });
                        writes.Add(new Outcome(email, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType,
                            await response.Content.ReadAsStringAsync(), started, clock.Elapsed));
                    }
                    catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
                    {
                        writes.Add(new Outcome(email, 0, null, error.GetType().Name, started, clock.Elapsed));
                    }
                }
            })).ToList();
            var readers = Enumerable.Range(0, Readers).Select(_ => Task.Run(async () =>
            {
                // At most one read each 10 ms per reader: a steady probe, not more load.
                using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
                while (!end.IsCancellationRequested)
                {
                    var started = clock.Elapsed;
                    reads.Add((await StatusAsync(http, readPath), started, clock.Elapsed));
                    await pace.WaitForNextTickAsync();
                }
            })).ToList();

            // At least 2 s and 150 users of load on the primary first.
            await Poll.UntilAsync(() => Task.FromResult(writes.Count(outcome => outcome.Status == 201)),
                created => created >= 150 && clock.Elapsed > TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
            var stoppedAt = clock.Elapsed;
            await pair.StopPrimaryAsync();
            await pair.PromoteStandbyAsync();
            var promotedAt = clock.Elapsed;
            var writing = await Poll.UntilAsync(
                () => Task.FromResult(writes.Where(outcome => outcome.Status == 201 && outcome.Started > promotedAt).Select(outcome => (TimeSpan?)outcome.Finished).Min()),
                first => first is not null, TimeSpan.FromSeconds(20));
            var writingAgainAt = writing.Value;
            // Some more load on the new primary, then stop.
            await Poll.UntilAsync(() => Task.FromResult(clock.Elapsed), now => now - promotedAt > TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(10));
            await end.CancelAsync();
            await Task.WhenAll(writers.Concat(readers));

            var all = writes.ToList();
            var created = all.Where(outcome => outcome.Status == 201).ToList();
            foreach (var outcome in all.Where(outcome => outcome.Status != 201 && (outcome.Status != 503 || outcome.MediaType != "application/problem+json")))
            {
                violations.Enqueue($"provision {outcome.Email}: {outcome.Status} {outcome.MediaType} {Shorten(outcome.Body)}");
            }

            var readList = reads.ToList();
            foreach (var read in readList.Where(read => read.Status != 200).Take(20))
            {
                violations.Enqueue($"read {readPath} at {Seconds(read.Started)} s (primary stopped at {Seconds(stoppedAt)} s): {read.Status}");
            }

            if (writingAgainAt is null || writingAgainAt - stoppedAt > TimeSpan.FromSeconds(10))
            {
                violations.Enqueue($"no write succeeded within 10 s of the primary stopping ({Seconds(writingAgainAt - stoppedAt)} s)");
            }

            // Every 201 is on the new primary (the promoted standby), with its key; no user lacks its key.
            await using var connection = new NpgsqlConnection(pair.StandbyConnectionString);
            var missing = 0;
            foreach (var outcome in created)
            {
                using var document = JsonDocument.Parse(outcome.Body);
                var userId = document.RootElement.GetProperty("user").GetProperty("id").GetInt64();
                var keyId = document.RootElement.GetProperty("key").GetProperty("id").GetInt64();
                if (await connection.ExecuteScalarAsync<long>(FaultSql.Get("user_and_key_exist"), new { user_id = userId, key_id = keyId, email = outcome.Email }) != 1)
                {
                    missing++;
                    violations.Enqueue($"201 for {outcome.Email} but its user {userId} or key {keyId} is not on the new primary");
                }
            }

            var emails = all.Select(outcome => outcome.Email).ToArray();
            var withoutKeys = await connection.ExecuteScalarAsync<long>(FaultSql.Get("users_without_keys"), new { emails });
            if (withoutKeys != 0)
            {
                violations.Enqueue($"{withoutKeys} user(s) on the new primary without their key");
            }

            var beforeStop = created.Count(outcome => outcome.Finished < stoppedAt);
            Console.WriteLine($"failover (primary + synchronous standby, 16 provisioning clients, 2 readers): {all.Count} provisions; {created.Count} x 201 " +
                $"({beforeStop} before the primary stopped, {created.Count - beforeStop} after), {all.Count(outcome => outcome.Status == 503)} x 503, " +
                $"{all.Count(outcome => outcome.Status is not (201 or 503))} other; primary stopped (immediate) at {Seconds(stoppedAt)} s, standby promoted " +
                $"{Seconds(promotedAt - stoppedAt)} s later; first 201 begun after the promotion done {Seconds(writingAgainAt - stoppedAt)} s after the stop; " +
                $"reads: {readList.Count} ({readList.Count(read => read.Status == 200)} x 200, {readList.Count(read => read.Status != 200)} other), " +
                $"longest read {Seconds(readList.Select(read => read.Finished - read.Started).DefaultIfEmpty().Max())} s; " +
                $"rows: {created.Count - missing} of {created.Count} 201s on the new primary, {withoutKeys} users without a key");
        }
        finally
        {
            if (!service.HasExited)
            {
                service.Kill(entireProcessTree: true);
                await service.WaitForExitAsync();
            }
        }

        if (violations.Any(violation => violation.Contains(" 500 ", StringComparison.Ordinal)))
        {
            violations.Enqueue("the service answered 500");
        }

        foreach (var violation in violations.Take(20))
        {
            Console.WriteLine($"VIOLATION {violation}");
        }

        Console.WriteLine($"failover: {violations.Count} violation(s)");
        return violations.IsEmpty ? 0 : 1;
    }

    private static Process StartService(string apiAssembly, int port, string connectionString, string log)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { apiAssembly, "--urls", $"http://127.0.0.1:{port}" })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["ConnectionStrings__UserKeys"] = connectionString;
        info.Environment["UserKeys__ReadFromStandbys"] = "true";
        info.Environment["UserKeys__RateLimits__PerKeyPerSecond"] = "100000";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the service");
        var writer = new StreamWriter(log) { AutoFlush = true };
        var gate = new object();
        void Write(string? line)
        {
            if (line is not null)
            {
                lock (gate)
                {
                    writer.WriteLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, line) => Write(line.Data);
        process.ErrorDataReceived += (_, line) => Write(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.Exited += (_, _) => writer.Dispose();
        process.EnableRaisingEvents = true;
        return process;
    }

    /// <summary>Runs a one-shot verb of the service (as the pipeline does); its stdout, or throws with its stderr.</summary>
    private static async Task<string> RunApiAsync(string apiAssembly, string connectionString, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(apiAssembly);
        foreach (var arg in args.Concat(["--connection", connectionString]))
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"UserKeys.Api {args[0]} exited {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }

    private static async Task<int> StatusAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return (int)response.StatusCode;
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }

    private static string Seconds(TimeSpan? span) => span is { } value ? value.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) : "never";

    private static string Shorten(string text) => text.Length > 160 ? text[..160] : text;
}

/// <summary>The drivers' SQL, embedded from <c>tests/UserKeys.Faults/sql</c>.</summary>
internal static class FaultSql
{
    public static string Get(string name)
    {
        using var stream = typeof(FaultSql).Assembly.GetManifestResourceStream($"faultsql/{name}.sql")
            ?? throw new InvalidOperationException($"tests/UserKeys.Faults/sql/{name}.sql does not exist");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
