using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Sql;

namespace UserKeys.Api.Auth;

/// <summary>
/// Keeps one connection of its own (outside the pool) listening for credential changes, and evicts what
/// they name from <see cref="AuthCache"/>. It proves that it hears: every <see cref="HeartbeatInterval"/>
/// it sends a notification on the same channel and must receive it back; the cache serves only while one
/// came back within <see cref="AuthCache.MaxSilence"/>, and when none has for that long the listener
/// reconnects. Each (re)connect clears the cache, since notifications sent meanwhile are lost.
/// It listens on <c>ConnectionStrings:UserKeysListen</c> when set (a direct connection while the main one goes
/// through a pooler); behind a transaction pooler without one it does not listen at all, and says so: the
/// cache stays off.
/// </summary>
internal sealed partial class AuthCacheListener(
    AuthCache cache, IOptions<DatabaseOptions> database, IOptions<ServiceOptions> service, NpgsqlDataSource dataSource, TimeProvider clock,
    ILogger<AuthCacheListener> logger)
    : BackgroundService
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    private readonly Guid _instance = Guid.NewGuid();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!cache.Configured)
        {
            return;
        }

        var listen = database.Value.ListenConnectionString;
        if (listen is null && service.Value.TransactionPooler)
        {
            LogNoDirectConnection(logger);
            return;
        }

        var builder = new NpgsqlConnectionStringBuilder(listen ?? database.Value.ConnectionString) { Pooling = false, KeepAlive = 5 };
        if (DataServices.IsMultiHost(builder) && builder.TargetSessionAttributes is null)
        {
            // Changes are announced on the primary only (a standby can neither LISTEN nor hear NOTIFY); after a failover
            // the reconnect finds the new primary.
            builder.TargetSessionAttributes = "primary";
        }
        var wasOn = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                connection.Notification += (_, notification) => OnNotification(notification.Payload);
                await connection.OpenAsync(stoppingToken).ConfigureAwait(false);
                if (listen is not null)
                {
                    await EnsureSameDatabaseAsync(connection, stoppingToken).ConfigureAwait(false);
                }

                await connection.ExecuteAsync(new CommandDefinition(SqlCatalog.Auth.Listen.Text, cancellationToken: stoppingToken)).ConfigureAwait(false);
                var connectedAt = clock.GetUtcNow();
                cache.SetListening(true);
                var sequence = 0L;
                var nextBeat = connectedAt;
                while (!stoppingToken.IsCancellationRequested)
                {
                    var now = clock.GetUtcNow();
                    if (now >= nextBeat)
                    {
                        await connection.ExecuteAsync(new CommandDefinition(
                            SqlCatalog.Auth.Heartbeat.Text, new { payload = Payload(now, ++sequence) }, cancellationToken: stoppingToken)).ConfigureAwait(false);
                        nextBeat = now + HeartbeatInterval;
                    }

                    // Returns early on any notification; the next heartbeat still waits for its time.
                    await connection.WaitAsync(Max(nextBeat - clock.GetUtcNow(), TimeSpan.FromMilliseconds(10)), stoppingToken).ConfigureAwait(false);
                    if (cache.Enabled != wasOn)
                    {
                        wasOn = cache.Enabled;
                        if (wasOn)
                        {
                            LogOn(logger);
                        }
                    }

                    if (!cache.Enabled && clock.GetUtcNow() - connectedAt > AuthCache.MaxSilence)
                    {
                        throw new TimeoutException($"no heartbeat came back within {AuthCache.MaxSilence.TotalSeconds:0} s (a pooler that drops LISTEN, or a silent network break)");
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception error) when (error is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                if (wasOn)
                {
                    LogLost(logger, error.Message);
                }

                wasOn = false;
                cache.Disconnected();
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), clock, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        cache.SetListening(false);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>A listener on another database than the service's would hear its heartbeat and never a change: it does not serve.</summary>
    private async Task EnsureSameDatabaseAsync(NpgsqlConnection listening, CancellationToken cancellationToken)
    {
        var query = new CommandDefinition(SqlCatalog.Auth.Identity.Text, new { name = ServiceSecretRepository.CursorHmacKey }, cancellationToken: cancellationToken);
        var heard = await listening.QuerySingleOrDefaultAsync<string>(query).ConfigureAwait(false);
        await using var served = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var serving = await served.QuerySingleOrDefaultAsync<string>(query).ConfigureAwait(false);
        if (heard is null || heard != serving)
        {
            LogWrongDatabase(logger);
            throw new InvalidOperationException("ConnectionStrings:UserKeysListen reaches another database than ConnectionStrings:UserKeys");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "ConnectionStrings:UserKeysListen reaches another database than ConnectionStrings:UserKeys " +
        "(its name or its cursor secret differ): the auth cache stays off until it names the service's own database")]
    private static partial void LogWrongDatabase(ILogger logger);

    private string Payload(DateTimeOffset sentAt, long sequence) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{AuthChannel.HeartbeatPayload(_instance, sequence)}:{sentAt.UtcTicks}");

    private void OnNotification(string payload)
    {
        // "heartbeat:<instance>:<sequence>:<sent at, ticks>": ours proves the path; others' change nothing.
        var ours = AuthChannel.Heartbeat + ":" + _instance.ToString("N") + ":";
        if (payload.StartsWith(ours, StringComparison.Ordinal))
        {
            var lastColon = payload.LastIndexOf(':');
            if (long.TryParse(payload.AsSpan(lastColon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks))
            {
                cache.Heard(new DateTimeOffset(ticks, TimeSpan.Zero));
            }

            return;
        }

        cache.Evict(payload);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for credential changes on '" + AuthChannel.Name + "' and hearing the heartbeat; the auth cache is on")]
    private static partial void LogOn(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The auth cache is off: UserKeys:TransactionPooler is set and ConnectionStrings:UserKeysListen is not, " +
        "and a pooler in transaction mode cannot hold a LISTEN. Every authentication and verification reads the database; set " +
        "ConnectionStrings__UserKeysListen to a direct connection to turn the cache on")]
    private static partial void LogNoDirectConnection(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the credential-change listener ({Reason}); the auth cache is off until it hears its heartbeat again")]
    private static partial void LogLost(ILogger logger, string reason);
}
