using System.Diagnostics;

namespace UserKeys.Api.Tests;

/// <summary>
/// Counts the SQL statements Npgsql sends to one database (its ActivitySource, one activity per command), but those of
/// the service's background work (the auth cache listener, usage and last-use flushes, purges, credit give-backs): nobody's
/// request.
/// </summary>
internal sealed class StatementCounter : IDisposable
{
    private static readonly HashSet<string> Background =
    [
        UserKeys.Data.Sql.SqlCatalog.Auth.Heartbeat.Text, UserKeys.Data.Sql.SqlCatalog.Auth.Listen.Text,
        UserKeys.Data.Sql.SqlCatalog.Usage.Flush.Text, UserKeys.Data.Sql.SqlCatalog.Usage.Purge.Text,
        UserKeys.Data.Sql.SqlCatalog.Audit.Purge.Text, UserKeys.Data.Sql.SqlCatalog.RateLimits.PurgeWindows.Text,
        UserKeys.Data.Sql.SqlCatalog.Credits.GiveBack.Text, UserKeys.Data.Sql.SqlCatalog.Credits.GiveBackUser.Text,
        UserKeys.Data.Sql.SqlCatalog.Keys.TouchLastUsed.Text,
        UserKeys.Data.Sql.SqlCatalog.Keys.GetWithUserByIds.Text,
    ];

    private readonly ActivityListener _listener;
    private int _count;

    public StatementCounter(string database)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("db.query.text") is string text && Equals(activity.GetTagItem("db.namespace"), database)
                    && !Background.Contains(text))
                {
                    Interlocked.Increment(ref _count);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>The statements sent while <paramref name="action"/> ran.</summary>
    public async Task<int> Measure(Func<Task> action)
    {
        var before = Count;
        await action();
        return Count - before;
    }

    public void Dispose() => _listener.Dispose();
}
