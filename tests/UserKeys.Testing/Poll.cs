using System.Diagnostics;

namespace UserKeys.Testing;

/// <summary>Waits on a condition, not for a time: asks it again every <c>interval</c> until it holds or <c>timeout</c> passes.</summary>
public static class Poll
{
    /// <summary>The last value <paramref name="read"/> returned (the one that met <paramref name="done"/>, or the last before the timeout), and how long it took.</summary>
    public static async Task<(T Value, TimeSpan Elapsed)> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(done);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await read().ConfigureAwait(false);
            if (done(value) || clock.Elapsed >= timeout)
            {
                return (value, clock.Elapsed);
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        }
    }
}
