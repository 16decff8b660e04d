using Npgsql;
using UserKeys.Data;
using UserKeys.Data.Audit;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// The one owner of a request's database state. <see cref="RunAsync{T}"/> takes a pooled connection,
/// begins the unit of work, runs the work, commits BEFORE the response starts (a 2xx write is durable
/// when the client sees it), and gives the connection back, whatever happened: writing the response,
/// reading a slow client's body, and endpoints that run no statement hold no connection. Any exception
/// disposes the unit of work uncommitted: rolled back, nothing written.
/// </summary>
internal sealed partial class UnitOfWorkRunner(NpgsqlDataSource dataSource, UnitOfWorkFactory units, ILogger<UnitOfWorkRunner> logger)
{
    /// <summary>Attempts at a unit of work that failed before its commit began (a broken connection, a deadlock).</summary>
    public const int MaxAttempts = 3;

    public Task<T> RunAsync<T>(UnitOfWorkMode mode, Func<UnitOfWork, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(mode, null, staleReadOk: false, work, cancellationToken);

    /// <summary>
    /// One statement outside a transaction that must not run twice (a lease of credits or of a rate limit's units): tried
    /// again only when it failed before it was sent (no connection), never after, when it may have been applied.
    /// </summary>
    public Task<T> RunOnceAsync<T>(Func<UnitOfWork, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(UnitOfWorkMode.SingleStatement, null, staleReadOk: false, work, cancellationToken, idempotent: false);

    /// <summary>A read-write unit of work on behalf of <paramref name="actor"/>, whom the audit log names for every change it makes.</summary>
    public Task<T> WriteAsync<T>(AuditActor actor, Func<UnitOfWork, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(UnitOfWorkMode.ReadWrite, actor, staleReadOk: false, work, cancellationToken);

    /// <summary>
    /// A read whose answer may lag the primary by a standby's replay delay (<c>UserKeys__ReadFromStandbys</c>): listings,
    /// a user, usage, the audit log. Never a write, nor a credential check (those stay on the primary: revocation wins).
    /// </summary>
    public Task<T> ReadStaleAsync<T>(UnitOfWorkMode mode, Func<UnitOfWork, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(mode, null, staleReadOk: true, work, cancellationToken);

    private async Task<T> RunAsync<T>(
        UnitOfWorkMode mode, AuditActor? actor, bool staleReadOk, Func<UnitOfWork, Task<T>> work, CancellationToken cancellationToken, bool idempotent = true)
    {
        for (var attempt = 1; ; attempt++)
        {
            var committing = false;
            try
            {
                var unit = await (staleReadOk ? units.BeginStaleReadAsync(mode, cancellationToken) : units.BeginAsync(mode, actor, cancellationToken)).ConfigureAwait(false);
                await using (unit.ConfigureAwait(false))
                {
                    // Outside a transaction the statement commits itself: once sent, a failure may hide its effect.
                    committing = !idempotent;
                    var result = await work(unit).ConfigureAwait(false);
                    if (mode != UnitOfWorkMode.ReadOnly)
                    {
                        // From here on the outcome may be unknown after a failure: never retried.
                        committing = true;
                        await unit.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    return result;
                }
            }
            catch (Exception error) when (!committing && attempt < MaxAttempts && !cancellationToken.IsCancellationRequested
                && Retry.IsSafeToRetry(error))
            {
                // Nothing of this attempt was committed: it rolled back (or died with its connection).
                LogRetry(logger, attempt, error.GetType().Name, (error as PostgresException)?.SqlState ?? "-");
                await Retry.RecoverAsync(error, dataSource, attempt, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception error) when (committing && Retry.IsBrokenConnection(error))
            {
                // Not tried again, but the other idle connections are most likely as dead as this one.
                dataSource.Clear();
                throw;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unit of work attempt {Attempt} failed before commit ({ErrorType}, SQLSTATE {SqlState}); trying again")]
    private static partial void LogRetry(ILogger logger, int attempt, string errorType, string sqlState);
}
