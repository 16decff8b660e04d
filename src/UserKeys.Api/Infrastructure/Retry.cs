using Npgsql;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// What may be tried again, and how to recover first. Npgsql does not check a pooled connection when
/// handing it out (npgsql/npgsql#933): after a server restart every idle pooled connection fails once
/// (57P01 or an I/O error, npgsql/npgsql#5073, #2896). So on a broken connection the pool is cleared of
/// its idle connections and the work runs again on a fresh one. Deadlocks and serialization failures
/// roll the transaction back on the server: running the work again is safe too. A commit whose outcome
/// is unknown is never retried (the caller of these methods guarantees it).
/// </summary>
internal static class Retry
{
    public static bool IsSafeToRetry(Exception error) =>
        IsBrokenConnection(error)
        || error is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    /// <summary>
    /// No pooled connection came free within the connection string's Timeout: back-pressure, not a broken
    /// connection. Answered 503 at once: no pool clear, no retry (both would only add load).
    /// Npgsql reports it as an NpgsqlException wrapping a TimeoutException, told apart by its message.
    /// </summary>
    public static bool IsPoolExhausted(Exception error) => error switch
    {
        NpgsqlException { InnerException: TimeoutException } npgsql =>
            npgsql.Message.Contains("pool has been exhausted", StringComparison.OrdinalIgnoreCase),
        InvalidOperationException when error.InnerException is { } inner => IsPoolExhausted(inner),
        _ => false,
    };

    /// <summary>The connection (or the server behind it) went away, or the server is not accepting yet.</summary>
    public static bool IsBrokenConnection(Exception error) => error switch
    {
        _ when IsPoolExhausted(error) => false,
        PostgresException postgres => postgres.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
            or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.IdleSessionTimeout
            || postgres.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException npgsql => npgsql.InnerException is IOException or System.Net.Sockets.SocketException or TimeoutException
            || npgsql.IsTransient || IsNoSuitableHost(npgsql),
        InvalidOperationException when error.InnerException is { } inner => IsBrokenConnection(inner),
        _ => false,
    };

    /// <summary>
    /// Several hosts, and none is what the connection needs right now (the primary stopped and no standby is promoted
    /// yet, or every host is down): a failover in progress. Npgsql says so with no error code: "No suitable host was
    /// found." when no host answered as asked, or "Unable to connect to a suitable host" wrapping each host's failure.
    /// </summary>
    public static bool IsNoSuitableHost(NpgsqlException error) =>
        error.InnerException is AggregateException
        || error.Message.StartsWith("No suitable host", StringComparison.Ordinal)
        || error.Message.StartsWith("Unable to connect to a suitable host", StringComparison.Ordinal);

    public static async Task RecoverAsync(Exception error, NpgsqlDataSource dataSource, int attempt, CancellationToken cancellationToken)
    {
        if (IsBrokenConnection(error))
        {
            // The other idle connections are most likely as dead as this one.
            dataSource.Clear();
        }

        await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt * attempt), cancellationToken).ConfigureAwait(false);
    }
}
