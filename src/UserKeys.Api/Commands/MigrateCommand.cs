using Npgsql;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Commands;

/// <summary>
/// <c>UserKeys.Api migrate [--dry-run]</c>: the deploy pipeline's step. Prints each script it applies
/// on stdout, logs on stderr, and exits with <see cref="ExitCodes"/>.
/// </summary>
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(CommandLine commandLine, CancellationToken cancellationToken)
    {
        using var host = await CommandHost.CreateAsync(commandLine, "migrate", "UserKeys.Migrate").ConfigureAwait(false);
        if (host is null)
        {
            return ExitCodes.Usage;
        }

        var upgrader = new DatabaseUpgrader(host.ConnectionString, host.Logger) { Output = Console.Out };
        try
        {
            if (commandLine.Has("dry-run"))
            {
                var pending = await upgrader.GetPendingScriptsAsync(cancellationToken).ConfigureAwait(false);
                foreach (var script in pending)
                {
                    await Console.Out.WriteLineAsync($"pending {script}");
                }

                await Console.Out.WriteLineAsync(pending.Count == 0
                    ? "schema is current; nothing to apply"
                    : $"{pending.Count} script(s) would be applied (dry run: nothing changed)");
                return ExitCodes.Success;
            }

            var result = await upgrader.UpgradeAsync(cancellationToken).ConfigureAwait(false);
            if (!result.Successful)
            {
                await Console.Error.WriteLineAsync(
                    $"migrate: {result.FailedScript} failed and was rolled back: {result.Error}").ConfigureAwait(false);
                return ExitCodes.MigrationFailed;
            }

            await Console.Out.WriteLineAsync(result.Applied.Count == 0
                ? "schema is current; nothing to apply"
                : $"applied {result.Applied.Count} script(s); schema is current");
            return ExitCodes.Success;
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"migrate: the database could not be reached: {error.Message}").ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }
    }
}
