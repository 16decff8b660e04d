using System.Data;
using Dapper;
using Npgsql;
using UserKeys.Data.Audit;
using UserKeys.Data.Keys;
using UserKeys.Data.Sql;
using UserKeys.Data.Users;

namespace UserKeys.Data;

/// <summary>How a unit of work talks to PostgreSQL.</summary>
public enum UnitOfWorkMode
{
    /// <summary>One read-write transaction, committed by <see cref="UnitOfWork.CommitAsync"/>, rolled back otherwise.</summary>
    ReadWrite,

    /// <summary>One READ ONLY, REPEATABLE READ transaction: every statement sees one snapshot; never commits.</summary>
    ReadOnly,

    /// <summary>
    /// No transaction at all: each statement commits on its own. Only for work that runs a single
    /// statement, where BEGIN/COMMIT would be two round trips for nothing.
    /// </summary>
    SingleStatement,
}

/// <summary>
/// One connection and, unless <see cref="UnitOfWorkMode.SingleStatement"/>, one transaction. Disposing
/// it without <see cref="CommitAsync"/> rolls back, whatever the exception that got us there.
/// Created only by <see cref="UnitOfWorkFactory"/>.
/// </summary>
public sealed class UnitOfWork : IAsyncDisposable
{
    private UserRepository? _users;
    private ApiKeyRepository? _keys;
    private ServiceSecretRepository? _secrets;
    private AuditRepository? _audit;
    private Usage.UsageRepository? _usage;
    private bool _committed;
    private List<Action>? _afterCommit;

    internal UnitOfWork(UnitOfWorkMode mode) => Mode = mode;

    public UnitOfWorkMode Mode { get; }

    public NpgsqlConnection Connection { get; private set; } = null!;

    public NpgsqlTransaction? Transaction { get; private set; }

    public bool IsDisposed { get; private set; }

    public UserRepository Users => _users ??= new UserRepository(Connection, Transaction);

    public ApiKeyRepository Keys => _keys ??= new ApiKeyRepository(Connection, Transaction);

    public ServiceSecretRepository Secrets => _secrets ??= new ServiceSecretRepository(Connection, Transaction);

    public AuditRepository Audit => _audit ??= new AuditRepository(Connection, Transaction);

    public Usage.UsageRepository Usage => _usage ??= new Usage.UsageRepository(Connection, Transaction);

    /// <summary>Opens the connection and begins; a read-write unit of work with an <paramref name="actor"/> names it for the audit triggers.</summary>
    internal async Task OpenAsync(NpgsqlDataSource dataSource, AuditActor? actor, CancellationToken cancellationToken)
    {
        Connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await BeginAsync(actor, cancellationToken).ConfigureAwait(false);
    }

    private async Task BeginAsync(AuditActor? actor, CancellationToken cancellationToken)
    {
        switch (Mode)
        {
            case UnitOfWorkMode.ReadWrite:
                Transaction = await Connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
                if (actor is not null)
                {
                    // Sent together with the BEGIN: one round trip for both.
                    await Audit.SetActorAsync(actor, cancellationToken).ConfigureAwait(false);
                }

                break;
            case UnitOfWorkMode.ReadOnly:
                Transaction = await Connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
                // Npgsql sends the BEGIN together with this statement: one round trip for both.
                await Connection.ExecuteAsync(new CommandDefinition(
                    SqlCatalog.Session.SetTransactionReadOnly.Text, transaction: Transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                break;
            case UnitOfWorkMode.SingleStatement:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Mode), Mode, "Unknown unit of work mode.");
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> once this unit of work has committed (never when it rolls back),
    /// e.g. to drop a changed credential from an in-process cache.
    /// </summary>
    public void AfterCommit(Action action) => (_afterCommit ??= []).Add(action);

    /// <summary>Commits the transaction, then runs the <see cref="AfterCommit"/> actions. Call it once, as the last thing the work does.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Mode == UnitOfWorkMode.ReadOnly)
        {
            throw new InvalidOperationException("A read-only unit of work never commits.");
        }

        if (_committed)
        {
            throw new InvalidOperationException("This unit of work was already committed.");
        }

        if (Transaction is not null)
        {
            await Transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        _committed = true;
        foreach (var action in _afterCommit ?? [])
        {
            action();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (IsDisposed)
        {
            return;
        }

        IsDisposed = true;
        try
        {
            if (Transaction is not null && !_committed && Connection.State == ConnectionState.Open)
            {
                try
                {
                    // Not the caller's token: the rollback must run even when the request was aborted.
                    await Transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception error) when (error is NpgsqlException or InvalidOperationException)
                {
                    // A broken connection already lost the transaction on the server side; the
                    // connection is discarded below, and the pool never hands out a broken one.
                }
            }

            if (Transaction is not null)
            {
                await Transaction.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            // Back to the pool.
            if (Connection is not null)
            {
                await Connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
