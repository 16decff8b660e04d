using Npgsql;

namespace UserKeys.Data;

/// <summary>
/// Opens units of work on one <see cref="NpgsqlDataSource"/>. A unit of work is the only way the
/// service reaches the database; opening a second one inside an open one (in the same async flow)
/// is an error, never a silent nested transaction that would commit on its own.
/// Reads that may be slightly stale may go to <paramref name="standbys"/> (a data source that prefers standbys) when
/// one is given; everything else goes to <paramref name="dataSource"/>, the primary.
/// </summary>
public sealed class UnitOfWorkFactory(NpgsqlDataSource dataSource, NpgsqlDataSource? standbys = null)
{
    private readonly AsyncLocal<UnitOfWork?> _current = new();

    /// <summary>The unit of work open in this async flow, if any.</summary>
    public UnitOfWork? Current => _current.Value is { IsDisposed: false } open ? open : null;

    /// <summary>Opens a connection and a read-write transaction.</summary>
    public Task<UnitOfWork> BeginAsync(CancellationToken cancellationToken) =>
        BeginAsync(UnitOfWorkMode.ReadWrite, cancellationToken);

    /// <summary>Opens a connection of its own and begins <paramref name="mode"/>.</summary>
    public Task<UnitOfWork> BeginAsync(UnitOfWorkMode mode, CancellationToken cancellationToken) =>
        BeginAsync(mode, null, cancellationToken);

    /// <summary>
    /// Opens a connection of its own and begins <paramref name="mode"/>; a read-write unit of work names
    /// <paramref name="actor"/> (when given) as the one who acts, for the audit triggers.
    /// </summary>
    public Task<UnitOfWork> BeginAsync(UnitOfWorkMode mode, Audit.AuditActor? actor, CancellationToken cancellationToken) =>
        OpenAsync(Register(mode), unitOfWork => unitOfWork.OpenAsync(dataSource, actor, cancellationToken));

    /// <summary>
    /// Opens a unit of work for a read whose answer may lag the primary by the standby's replay delay: on a standby when
    /// the factory has one (falling back to the primary while none is up), else on the primary. Never for a write, nor
    /// for a read a decision about credentials rests on.
    /// </summary>
    public Task<UnitOfWork> BeginStaleReadAsync(UnitOfWorkMode mode, CancellationToken cancellationToken)
    {
        if (mode == UnitOfWorkMode.ReadWrite)
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "A read-write unit of work always runs on the primary.");
        }

        return OpenAsync(Register(mode), unitOfWork => unitOfWork.OpenAsync(standbys ?? dataSource, null, cancellationToken));
    }

    // Not async on purpose: the AsyncLocal must be set in the caller's flow, and an async
    // method would restore the caller's context (dropping the value) when it returns.
    private UnitOfWork Register(UnitOfWorkMode mode)
    {
        if (Current is { } open)
        {
            throw new InvalidOperationException(
                $"A {open.Mode} unit of work is already open in this flow. Nested units of work are not supported: " +
                "pass the open unit of work down instead of opening another.");
        }

        var unitOfWork = new UnitOfWork(mode);
        _current.Value = unitOfWork;
        return unitOfWork;
    }

    /// <summary>Runs <paramref name="work"/> in a read-write unit of work with no named actor (the audit log shows the database role only).</summary>
    public Task<T> RunAsync<T>(Func<UnitOfWork, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(null, work, cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in a read-write unit of work on behalf of <paramref name="actor"/> (null: unnamed):
    /// commits when it returns, rolls back when it throws.
    /// </summary>
    public async Task<T> RunAsync<T>(Audit.AuditActor? actor, Func<UnitOfWork, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var unitOfWork = await BeginAsync(UnitOfWorkMode.ReadWrite, actor, cancellationToken).ConfigureAwait(false);
        await using (unitOfWork.ConfigureAwait(false))
        {
            var result = await work(unitOfWork, cancellationToken).ConfigureAwait(false);
            await unitOfWork.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
    }

    /// <summary>Runs <paramref name="work"/> in a read-only unit of work (one snapshot).</summary>
    public async Task<T> ReadAsync<T>(Func<UnitOfWork, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var unitOfWork = await BeginAsync(UnitOfWorkMode.ReadOnly, cancellationToken).ConfigureAwait(false);
        await using (unitOfWork.ConfigureAwait(false))
        {
            return await work(unitOfWork, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<UnitOfWork> OpenAsync(UnitOfWork unitOfWork, Func<UnitOfWork, Task> open)
    {
        try
        {
            await open(unitOfWork).ConfigureAwait(false);
            return unitOfWork;
        }
        catch
        {
            await unitOfWork.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
