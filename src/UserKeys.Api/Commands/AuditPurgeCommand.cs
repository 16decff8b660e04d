using Npgsql;
using UserKeys.Api.Audit;
using UserKeys.Api.Infrastructure;
using UserKeys.Data;

namespace UserKeys.Api.Commands;

/// <summary>
/// <c>UserKeys.Api audit-purge</c>: the retention purge run as the schema's owner (audit_purge() is the owner's alone,
/// migration 0020), for deployments whose service runs as a role of its own: the deploy pipeline's credentials, from a
/// scheduler. Deletes the events older than <c>UserKeys__AuditRetentionDays</c> (never younger than the database's
/// floor); prints how many on stdout.
/// </summary>
internal static class AuditPurgeCommand
{
    public static async Task<int> RunAsync(CommandLine commandLine, CancellationToken cancellationToken)
    {
        using var host = await CommandHost.CreateAsync(commandLine, "audit-purge", "UserKeys.AuditPurge").ConfigureAwait(false);
        if (host is null)
        {
            return ExitCodes.Usage;
        }

        var days = host.Configuration.GetValue(ServiceOptions.Section + ":" + nameof(ServiceOptions.AuditRetentionDays), ServiceOptions.DefaultAuditRetentionDays);
        var cutoff = DateTime.UtcNow.AddDays(-days);
        await using var dataSource = NpgsqlDataSource.Create(host.ConnectionString);
        var units = new UnitOfWorkFactory(dataSource);
        long total = 0;
        try
        {
            for (var batch = 0; batch < AuditRetention.MaxBatchesPerPass; batch++)
            {
                var deleted = await units.RunAsync((unit, ct) => unit.Audit.PurgeAsync(cutoff, AuditRetention.BatchSize, ct), cancellationToken)
                    .ConfigureAwait(false);
                if (deleted < 0)
                {
                    await Console.Error.WriteLineAsync("audit-purge: another purge is running; try again later").ConfigureAwait(false);
                    return ExitCodes.Refused;
                }

                total += deleted;
                if (deleted < AuditRetention.BatchSize)
                {
                    break;
                }
            }
        }
        catch (PostgresException denied) when (denied.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            await Console.Error.WriteLineAsync("audit-purge: only the schema's owner may purge the audit trail; connect as the role that runs migrate")
                .ConfigureAwait(false);
            return ExitCodes.Refused;
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"audit-purge: the database could not be reached: {error.Message}").ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }

        await Console.Out.WriteLineAsync($"deleted {total} audit event(s) older than {days} days").ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
