using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;
using UserKeys.Data.Sql;

namespace UserKeys.Api.Auth;

/// <summary>
/// Keeps one connection of its own (outside the pool) listening for credential changes, and evicts
/// what they name from <see cref="AuthCache"/>. While it is not connected the cache is off; each
/// (re)connect clears it, since notifications sent meanwhile are lost.
/// </summary>
internal sealed partial class AuthCacheListener(
    AuthCache cache, IOptions<DatabaseOptions> database, IOptions<ServiceOptions> options, ILogger<AuthCacheListener> logger) : BackgroundService
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        cache.ServiceTtl = TimeSpan.FromSeconds(options.Value.AuthCacheSeconds);
        if (cache.ServiceTtl <= TimeSpan.Zero)
        {
            return;
        }

        var builder = new NpgsqlConnectionStringBuilder(database.Value.ConnectionString) { Pooling = false, KeepAlive = 5 };
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                connection.Notification += (_, notification) => cache.Evict(notification.Payload);
                await connection.OpenAsync(stoppingToken).ConfigureAwait(false);
                await connection.ExecuteAsync(new CommandDefinition(SqlCatalog.Auth.Listen.Text, cancellationToken: stoppingToken)).ConfigureAwait(false);
                cache.SetListening(true);
                LogListening(logger);
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(Heartbeat, stoppingToken).ConfigureAwait(false))
                    {
                        // Quiet for a while: prove the connection is alive rather than assume it.
                        await connection.ExecuteAsync(new CommandDefinition(SqlCatalog.Session.Ping.Text, cancellationToken: stoppingToken)).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception error) when (error is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                if (cache.Enabled)
                {
                    LogLost(logger, error.Message);
                }

                cache.SetListening(false);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        cache.SetListening(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for credential changes on '" + AuthChangeRepository.Channel + "'; the auth cache is on")]
    private static partial void LogListening(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the credential-change listener ({Reason}); the auth cache is off until it reconnects")]
    private static partial void LogLost(ILogger logger, string reason);
}
