using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Health;

/// <summary>What <c>/readyz</c> answers: ready, or why not (a 503 problem's title and detail).</summary>
internal sealed record ReadinessResult(string? Title, string? Detail)
{
    public static readonly ReadinessResult Ready = new(null, null);

    public bool IsReady => Title is null;
}

/// <summary>
/// The readiness check: the database answers, its schema is what this build expects, and the service's role has its
/// privileges. One check at a time, and an answer at most <see cref="MaxAge"/> old: a flood of anonymous probes costs at
/// most one pooled connection and two statements a second, whatever their number.
/// </summary>
internal sealed class Readiness(NpgsqlDataSource dataSource, IOptions<ServiceOptions> options, TimeProvider clock)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private Task<ReadinessResult>? _last;
    private long _startedTicks;

    public Task<ReadinessResult> CheckAsync()
    {
        var now = clock.GetUtcNow().UtcTicks;
        lock (_lock)
        {
            // A check still running is shared, however old: checks never overlap.
            if (_last is null || (now - _startedTicks >= MaxAge.Ticks && _last.IsCompleted))
            {
                _startedTicks = now;
                _last = RunAsync();
            }

            return _last;
        }
    }

    /// <summary>Not tied to any request: every caller of this second shares it.</summary>
    private async Task<ReadinessResult> RunAsync()
    {
        var timeoutSeconds = options.Value.ReadinessTimeoutSeconds;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        SchemaStatus? status = null;
        IReadOnlyList<string> missing = [];
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
            try
            {
                status = await SchemaStatus.ReadAsync(connection, timeout.Token).ConfigureAwait(false);
            }
            catch (PostgresException denied) when (denied.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                // Not even the migration journal: a role nobody granted anything (the catalog check says what it lacks).
            }

            if (status is null || (status.Pending.Count == 0 && status.Unknown.Count == 0))
            {
                missing = await ServicePrivileges.MissingAsync(connection, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            return new ReadinessResult("The database is unavailable", $"The database did not answer within {timeoutSeconds} s.");
        }

        if (status is null || missing.Count > 0)
        {
            return new ReadinessResult("The service's database role lacks privileges",
                $"Run 'UserKeys.Api migrate --grant-to <this role>' as the schema's owner. Missing: {string.Join(", ", missing)}.");
        }

        if (status.Unknown.Count > 0)
        {
            return new ReadinessResult("The database schema is newer than this build",
                $"Applied scripts this build does not know: {string.Join(", ", status.Unknown)}. Deploy the matching build.");
        }

        return status.Pending.Count > 0
            ? new ReadinessResult("Migrations are pending", $"Run 'UserKeys.Api migrate'. Pending: {string.Join(", ", status.Pending)}.")
            : ReadinessResult.Ready;
    }
}
