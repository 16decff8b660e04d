using System.Diagnostics;

namespace UserKeys.Api.Tests;

/// <summary>Counts the SQL statements Npgsql sends to one database (its ActivitySource, one activity per command).</summary>
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
                if (activity.GetTagItem("db.query.text") is not null && Equals(activity.GetTagItem("db.namespace"), database))
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
