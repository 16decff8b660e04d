using System.Diagnostics;

namespace UserKeys.Api.Tests;

/// <summary>Counts the SQL statements Npgsql sends to one database (its ActivitySource, one activity per command), but the auth cache listener's.</summary>
internal sealed class StatementCounter : IDisposable
{
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
                // The auth cache listener's LISTEN and heartbeat (one a second, on its own connection) are nobody's request.
                if (activity.GetTagItem("db.query.text") is string text && Equals(activity.GetTagItem("db.namespace"), database)
                    && text != UserKeys.Data.Sql.SqlCatalog.Auth.Heartbeat.Text && text != UserKeys.Data.Sql.SqlCatalog.Auth.Listen.Text)
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
