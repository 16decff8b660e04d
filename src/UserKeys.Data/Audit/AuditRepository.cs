using System.Data;
using System.Globalization;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Audit;

/// <summary>The audit_events table: written only by triggers; read in pages; purged in batches.</summary>
public sealed class AuditRepository(IDbConnection connection, IDbTransaction? transaction)
    : Repository(connection, transaction)
{
    /// <summary>Names the actor of this transaction for the audit triggers (transaction-local).</summary>
    public Task SetActorAsync(AuditActor actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(actor);
        return Connection.ExecuteAsync(Command(
            SqlCatalog.Audit.SetActor,
            new
            {
                user_id = actor.UserId?.ToString(CultureInfo.InvariantCulture) ?? "",
                key_id = actor.KeyId?.ToString(CultureInfo.InvariantCulture) ?? "",
                request_id = actor.RequestId ?? "",
                trace_id = actor.TraceId ?? "",
            },
            cancellationToken));
    }

    /// <summary>
    /// A page of the events <paramref name="filter"/> selects, newest first, before event <paramref name="beforeId"/>
    /// (null: from the newest). The most selective filter picks the index: key, then user, then action.
    /// </summary>
    public async Task<IReadOnlyList<AuditEventRow>> ListAsync(AuditFilter filter, long? beforeId, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var before = beforeId ?? long.MaxValue;
        var command = filter switch
        {
            { KeyId: { } keyId } => Command(SqlCatalog.Audit.ListByKey,
                new { key_id = keyId, user_id = filter.UserId, action = filter.Action, before_id = before, limit }, cancellationToken),
            { UserId: { } userId } => Command(SqlCatalog.Audit.ListByUser,
                new { user_id = userId, action = filter.Action, before_id = before, limit }, cancellationToken),
            { Action: { } action } => Command(SqlCatalog.Audit.ListByAction, new { action, before_id = before, limit }, cancellationToken),
            _ => Command(SqlCatalog.Audit.ListAll, new { before_id = before, limit }, cancellationToken),
        };
        return (await Connection.QueryAsync<AuditEventRow>(command).ConfigureAwait(false)).AsList();
    }

    /// <summary>Deletes up to <paramref name="batchSize"/> of the oldest events older than <paramref name="cutoff"/>; -1 when another instance is purging.</summary>
    public Task<int> PurgeAsync(DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        Connection.QuerySingleAsync<int>(Command(SqlCatalog.Audit.Purge, new { cutoff, batch_size = batchSize }, cancellationToken));
}
