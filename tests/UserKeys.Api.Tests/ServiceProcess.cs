using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>
/// The service as a real process on 127.0.0.1 (as the instances of a deployment run it): started on a free port,
/// ready once <c>/readyz</c> answers 200, stopped with SIGTERM (or killed with SIGKILL, as a crash). Its output is
/// drained (a full pipe would stall it) and kept for a failing test's message.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();
    private bool _disposed;

    private ServiceProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        process.OutputDataReceived += (_, line) => Keep(line.Data);
        process.ErrorDataReceived += (_, line) => Keep(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    public bool HasExited => _process.HasExited;

    public string Output => string.Join('\n', _output);

    public static Task<ServiceProcess> StartAsync(string connectionString, IReadOnlyDictionary<string, string>? environment = null) =>
        StartAsync(connectionString, environment, "/readyz");

    /// <summary>Started and listening (<c>/healthz</c>), ready or not: for a test of what <c>/readyz</c> says.</summary>
    public static Task<ServiceProcess> StartNotReadyAsync(string connectionString) => StartAsync(connectionString, null, "/healthz");

    private static async Task<ServiceProcess> StartAsync(string connectionString, IReadOnlyDictionary<string, string>? environment, string readyPath)
    {
        var port = Ports.Free();
        var settings = new Dictionary<string, string>(environment ?? new Dictionary<string, string>())
        {
            ["UserKeys__RateLimits__PerKeyPerSecond"] = "100000",
            ["UserKeys__RateLimits__FailuresPerAddressPerSecond"] = "100000",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var process = CliProcess.Start(connectionString, settings, "--urls", $"http://127.0.0.1:{port}");
        var service = new ServiceProcess(process, port);
        using var http = service.Client(null);
        async Task<bool> Ready()
        {
            try
            {
                return (await http.GetAsync(readyPath)).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false; // not listening yet
            }
        }

        if ((await Poll.UntilAsync(Ready, ready => ready || process.HasExited, TimeSpan.FromSeconds(60))).Value)
        {
            return service;
        }

        await service.DisposeAsync();
        throw new InvalidOperationException($"the service did not become ready on port {port}:\n{service.Output}");
    }

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>SIGKILL: a crash; nothing of the process runs after it.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM and wait: the graceful stop a deployment does. Again: nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (!_process.HasExited)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is not null && _output.Count < 2000)
        {
            _output.Enqueue(line);
        }
    }

}
