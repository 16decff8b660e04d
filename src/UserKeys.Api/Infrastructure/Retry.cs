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
            || npgsql.IsTransient,
        InvalidOperationException when error.InnerException is { } inner => IsBrokenConnection(inner),
        _ => false,
    };

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
