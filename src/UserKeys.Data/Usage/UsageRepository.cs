using System.Data;
using Dapper;
using UserKeys.Data.Sql;

namespace UserKeys.Data.Usage;

/// <summary>One key's usage in one bucket (an hour, or a day): counts by outcome.</summary>
public sealed record UsageBucketRow
{
    public DateTime Start { get; init; }

    public long Valid { get; init; }

    public long Revoked { get; init; }

    public long Expired { get; init; }

    public long Disabled { get; init; }

    public long InsufficientPermissions { get; init; }

    public long RateLimited { get; init; }

    public long UsageExceeded { get; init; }
}

/// <summary>
/// Counts to add, as parallel arrays (one element per key and hour): <see cref="Outcomes"/>[outcome][i] for
/// <see cref="KeyIds"/>[i] in <see cref="Hours"/>[i]. The outcomes in the order of <see cref="UsageRepository.OutcomeNames"/>.
/// </summary>
public sealed record UsageBatch(long[] KeyIds, DateTime[] Hours, long[][] Outcomes)
{
    /// <summary>Names this batch's write: sent again after a failure, it is counted once (<c>applied_operations</c>).</summary>
    public Guid OperationId { get; } = Guid.CreateVersion7();
}

/// <summary>The key_usage table (migration 0013): hourly counts per key and outcome.</summary>
public sealed class UsageRepository(IDbConnection connection, IDbTransaction? transaction) : Repository(connection, transaction)
{
    /// <summary>The outcomes counted, in the order of the columns and of <see cref="UsageBatch.Outcomes"/>.</summary>
    public static readonly string[] OutcomeNames =
        ["valid", "revoked", "expired", "disabled", "insufficient_permissions", "rate_limited", "usage_exceeded"];

    public Task<int> FlushAsync(UsageBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var o = batch.Outcomes;
        return Connection.ExecuteAsync(Command(
            SqlCatalog.Usage.Flush,
            new
            {
                key_ids = batch.KeyIds, hours = batch.Hours, valid = o[0], revoked = o[1], expired = o[2], disabled = o[3],
                insufficient_permissions = o[4], rate_limited = o[5], usage_exceeded = o[6], operation_id = batch.OperationId,
            },
            cancellationToken));
    }

    /// <summary>
    /// Every hour (or UTC day, <paramref name="daily"/>) from <paramref name="from"/> up to <paramref name="to"/> (exclusive),
    /// zeros included; empty when <paramref name="userId"/> has no key <paramref name="keyId"/>.
    /// </summary>
    public async Task<IReadOnlyList<UsageBucketRow>> BucketsAsync(
        long userId, long keyId, bool daily, DateTime from, DateTime to, CancellationToken cancellationToken) =>
        (await Connection.QueryAsync<UsageBucketRow>(Command(
            daily ? SqlCatalog.Usage.Days : SqlCatalog.Usage.Hours, new { user_id = userId, key_id = keyId, from, to }, cancellationToken))
            .ConfigureAwait(false)).AsList();

    /// <summary>Deletes up to <paramref name="batchSize"/> buckets older than <paramref name="before"/>; how many.</summary>
    public Task<int> PurgeAsync(DateTime before, int batchSize, CancellationToken cancellationToken) =>
        Connection.ExecuteAsync(Command(SqlCatalog.Usage.Purge, new { before, batch_size = batchSize }, cancellationToken));
}
