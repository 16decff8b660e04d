using System.Globalization;
using Dapper;
using Npgsql;

namespace UserKeys.Testing;

/// <summary>
/// A primary and one streaming standby on 127.0.0.1, made from the machine's PostgreSQL binaries (initdb, then
/// pg_basebackup of the primary), in a private folder deleted on dispose: for the tests of reads from standbys and of
/// failover. The standby is synchronous when asked (<c>synchronous_standby_names</c>): then a commit on the primary
/// returns once the standby has the WAL, and a promoted standby has every acknowledged write. Runs the servers as the
/// <c>postgres</c> system user when the tests run as root. The database <see cref="Database"/> belongs to the role
/// <see cref="Role"/> (LOGIN, not a superuser), as the service's would.
/// </summary>
public sealed class PostgresPair : IAsyncDisposable
{
    public const string Database = "userkeys";
    public const string Role = "userkeys";

    private readonly string _folder;
    private readonly string _bin;
    private readonly string _superPassword;
    private readonly string _password;
    private bool _disposed;

    private PostgresPair(string folder, string bin, string superPassword, string password, int primaryPort, int standbyPort)
    {
        _folder = folder;
        _bin = bin;
        _superPassword = superPassword;
        _password = password;
        PrimaryPort = primaryPort;
        StandbyPort = standbyPort;
    }

    public int PrimaryPort { get; }

    public int StandbyPort { get; }

    /// <summary>Both hosts, primary first: Npgsql's multi-host connection string, as a deployment would give the service.</summary>
    public string MultiHostConnectionString =>
        $"Host=127.0.0.1:{PrimaryPort},127.0.0.1:{StandbyPort};Username={Role};Password={_password};Database={Database}";

    public string PrimaryConnectionString => Single(PrimaryPort, Role, _password);

    public string StandbyConnectionString => Single(StandbyPort, Role, _password);

    private string PrimaryData => Path.Combine(_folder, "primary");

    private string StandbyData => Path.Combine(_folder, "standby");

    private static bool Root => Environment.UserName == "root";

    /// <summary>Makes, starts and connects both servers; the standby is streaming (and, when synchronous, in sync) on return.</summary>
    public static async Task<PostgresPair> StartAsync(bool synchronous)
    {
        var bin = FindBin();
        var folder = Directory.CreateTempSubdirectory("userkeys-pair-").FullName;
        // Ports below the ephemeral range, from a random start: two pairs made at once rarely probe the same one.
        var pair = new PostgresPair(folder, bin, Secret(), Secret(), Ports.FreeFrom(26100 + Random.Shared.Next(0, 300)), 0);
        pair = new PostgresPair(folder, bin, pair._superPassword, pair._password, pair.PrimaryPort, Ports.FreeFrom(pair.PrimaryPort + 1));
        try
        {
            await pair.InitPrimaryAsync();
            await pair.StartStandbyAsync();
            if (synchronous)
            {
                await pair.MakeStandbySynchronousAsync();
            }

            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    private async Task InitPrimaryAsync()
    {
        var passwordFile = Path.Combine(_folder, "superuser-password");
        await File.WriteAllTextAsync(passwordFile, _superPassword);
        if (Root)
        {
            await Processes.RunAsync("chown", null, "-R", "postgres", _folder);
        }

        await AsServerAsync(Path.Combine(_bin, "initdb"), "-D", PrimaryData, "-U", "postgres", $"--pwfile={passwordFile}",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8");
        await File.AppendAllTextAsync(Path.Combine(PrimaryData, "postgresql.conf"), string.Join('\n',
            "",
            "# --- PostgresPair ---",
            "listen_addresses = '127.0.0.1'",
            $"unix_socket_directories = '{_folder}'",
            "max_connections = 200",
            "shared_buffers = 64MB",
            "fsync = off",
            "wal_level = replica",
            "max_wal_senders = 4",
            "wal_keep_size = 256MB",
            "hot_standby = on",
            "log_line_prefix = '%m [%p] %d '",
            ""));
        await AsServerAsync(Path.Combine(_bin, "pg_ctl"), "-D", PrimaryData, "-l", Path.Combine(_folder, "primary.log"),
            "-o", $"-p {PrimaryPort}", "-w", "-t", "60", "start");
        await using var connection = new NpgsqlConnection(Single(PrimaryPort, "postgres", _superPassword, "postgres"));
        await connection.OpenAsync();
        await connection.ExecuteAsync(await connection.QuerySingleAsync<string>(TestSql.Get("create_role_statement"), new { role = Role, password = _password }));
        await connection.ExecuteAsync(TestSql.WithIdentifiers("create_database_owned_by", ("database", Database), ("owner", Role)));
    }

    /// <summary>A base backup of the primary, configured to stream from it as application 'standby', then started.</summary>
    private async Task StartStandbyAsync()
    {
        await AsServerAsync(Path.Combine(_bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", PrimaryPort.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "-D", StandbyData, "-X", "stream", "-R", "-c", "fast");
        await File.AppendAllTextAsync(Path.Combine(StandbyData, "postgresql.auto.conf"),
            $"primary_conninfo = 'host=127.0.0.1 port={PrimaryPort} user=postgres password={_superPassword} application_name=standby'\n" +
            // Once promoted it has no standby of its own: waiting for one would hang every commit.
            "synchronous_standby_names = ''\n");
        await AsServerAsync(Path.Combine(_bin, "pg_ctl"), "-D", StandbyData, "-l", Path.Combine(_folder, "standby.log"),
            "-o", $"-p {StandbyPort}", "-w", "-t", "60", "start");
        var streaming = await Poll.UntilAsync(() => ScalarAsync<long>(PrimaryPort, "streaming_standbys", new { application_name = "standby" }),
            count => count == 1, TimeSpan.FromSeconds(30));
        if (streaming.Value != 1)
        {
            throw new InvalidOperationException($"the standby is not streaming:\n{await File.ReadAllTextAsync(Path.Combine(_folder, "standby.log"))}");
        }
    }

    private async Task MakeStandbySynchronousAsync()
    {
        await using (var connection = new NpgsqlConnection(Single(PrimaryPort, "postgres", _superPassword, "postgres") + ";Pooling=false"))
        {
            await connection.ExecuteAsync(TestSql.Get("make_standby_synchronous"));
            await connection.ExecuteAsync(TestSql.Get("reload_configuration"));
        }

        var synchronous = await Poll.UntilAsync(() => ScalarAsync<long>(PrimaryPort, "synchronous_standbys", new { application_name = "standby" }),
            count => count == 1, TimeSpan.FromSeconds(30));
        if (synchronous.Value != 1)
        {
            throw new InvalidOperationException("the standby did not become synchronous");
        }
    }

    /// <summary>The standby stops applying WAL (it still receives it): what it serves stays as it was.</summary>
    public Task PauseReplayAsync() => ScalarAsync<string>(StandbyPort, "wal_replay_pause");

    public Task ResumeReplayAsync() => ScalarAsync<string>(StandbyPort, "wal_replay_resume");

    /// <summary>Stops the primary at once (as a crash: no shutdown checkpoint, connections cut).</summary>
    public Task StopPrimaryAsync() => AsServerAsync(Path.Combine(_bin, "pg_ctl"), "-D", PrimaryData, "-m", "immediate", "-w", "stop");

    /// <summary>Promotes the standby to primary and waits until it accepts writes.</summary>
    public async Task PromoteStandbyAsync()
    {
        await AsServerAsync(Path.Combine(_bin, "pg_ctl"), "-D", StandbyData, "-w", "-t", "60", "promote");
        var writable = await Poll.UntilAsync(() => ScalarAsync<bool>(StandbyPort, "is_primary"), primary => primary, TimeSpan.FromSeconds(30));
        if (!writable.Value)
        {
            throw new InvalidOperationException("the promoted standby is still in recovery");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var data in new[] { StandbyData, PrimaryData })
        {
            if (File.Exists(Path.Combine(data, "postmaster.pid")))
            {
                try
                {
                    await AsServerAsync(Path.Combine(_bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop");
                }
                catch (InvalidOperationException)
                {
                    // Not running (a stopped primary leaves no pid file; a crashed one may): nothing to stop.
                }
            }
        }

        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Runs the test statement <paramref name="name"/> as the superuser on the server at <paramref name="port"/>.</summary>
    private async Task<T> ScalarAsync<T>(int port, string name, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(Single(port, "postgres", _superPassword, "postgres") + ";Pooling=false");
        return await connection.QuerySingleAsync<T>(TestSql.Get(name), parameters);
    }

    private static string Single(int port, string user, string password, string database = Database) =>
        $"Host=127.0.0.1;Port={port};Username={user};Password={password};Database={database}";

    private async Task AsServerAsync(string file, params string[] args)
    {
        var environment = new Dictionary<string, string> { ["PGPASSWORD"] = _superPassword };
        if (Root)
        {
            await Processes.RunAsync("runuser", environment, ["-u", "postgres", "--", file, .. args]);
        }
        else
        {
            await Processes.RunAsync(file, environment, args);
        }
    }

    /// <summary>The newest /usr/lib/postgresql/*/bin with pg_basebackup, else the folder of initdb on PATH.</summary>
    private static string FindBin()
    {
        var installed = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "pg_basebackup")) && File.Exists(Path.Combine(bin, "initdb")))
                .OrderByDescending(bin => bin, StringComparer.Ordinal)
                .FirstOrDefault()
            : null;
        return installed ?? throw new InvalidOperationException(
            "no PostgreSQL server binaries (initdb, pg_basebackup) under /usr/lib/postgresql/*/bin: scripts/pg-local installs them (USERKEYS_PG_INSTALL=1)");
    }

    private static string Secret() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

}
