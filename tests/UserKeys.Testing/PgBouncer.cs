using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace UserKeys.Testing;

/// <summary>
/// A private PgBouncer (the machine's <c>pgbouncer</c>, Debian's 1.18) in front of one PostgreSQL, in transaction mode, on
/// a free port of 127.0.0.1: as a deployment puts one between its service instances and the database. Its configuration
/// lives in a folder of its own (deleted on dispose); its log is kept for a test to read. Runs as the <c>postgres</c>
/// system user when the tests run as root (PgBouncer refuses root).
/// </summary>
public sealed class PgBouncer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo _folder;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log = new();

    private PgBouncer(Process process, DirectoryInfo folder, string connectionString)
    {
        _process = process;
        _folder = folder;
        ConnectionString = connectionString;
        process.OutputDataReceived += (_, line) => Keep(line.Data);
        process.ErrorDataReceived += (_, line) => Keep(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The same database, user and password as the target, through PgBouncer.</summary>
    public string ConnectionString { get; }

    public string Log => string.Join('\n', _log);

    /// <summary>The binary: on PATH, else Debian's place. scripts/test installs the package when it is missing.</summary>
    public static string Binary =>
        new[] { "/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "pgbouncer is not installed: scripts/test installs Debian's package when run as root; otherwise apt-get install pgbouncer");

    /// <summary>Starts PgBouncer in front of <paramref name="target"/> (a connection string with a password) with at most <paramref name="poolSize"/> server connections.</summary>
    public static async Task<PgBouncer> StartAsync(string target, int poolSize = 10)
    {
        var server = new NpgsqlConnectionStringBuilder(target);
        var port = Ports.Free();
        var folder = Directory.CreateTempSubdirectory("userkeys-pgbouncer-");
        var root = Environment.UserName == "root";
        var ini = Path.Combine(folder.FullName, "pgbouncer.ini");
        var users = Path.Combine(folder.FullName, "users.txt");
        await File.WriteAllTextAsync(users, $"\"{server.Username}\" \"{server.Password}\"\n");
        await File.WriteAllTextAsync(ini, string.Join('\n',
            "[databases]",
            $"* = host={server.Host} port={server.Port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            $"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            $"auth_file = {users}",
            "pool_mode = transaction",
            $"default_pool_size = {poolSize}",
            "max_client_conn = 500",
            "log_connections = 1",
            "log_disconnections = 0",
            "") + "\n");
        if (root)
        {
            // PgBouncer drops to this user (-u) and must still read its files; nobody else may read the password.
            await Processes.RunAsync("chown", null, "-R", "postgres", folder.FullName);
        }

        var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (root)
        {
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add("postgres");
        }

        info.ArgumentList.Add(ini);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start pgbouncer");
        var through = new NpgsqlConnectionStringBuilder(target) { Host = "127.0.0.1", Port = port, Pooling = false };
        var bouncer = new PgBouncer(process, folder, through.ConnectionString);
        var listening = await Poll.UntilAsync(() => Task.FromResult(Accepts(port)), up => up || process.HasExited, TimeSpan.FromSeconds(15));
        if (!listening.Value)
        {
            await bouncer.DisposeAsync();
            throw new InvalidOperationException($"pgbouncer did not start on port {port}:\n{bouncer.Log}");
        }

        return bouncer;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _folder.Delete(recursive: true);
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Keep(string? line)
    {
        if (line is not null && _log.Count < 5000)
        {
            _log.Enqueue(line);
        }
    }
}
