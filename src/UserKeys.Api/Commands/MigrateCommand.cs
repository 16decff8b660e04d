using Npgsql;
using UserKeys.Data.Migrations;

namespace UserKeys.Api.Commands;

/// <summary>
/// <c>UserKeys.Api migrate [--dry-run] [--grant-to ROLE]</c>: the deploy pipeline's step. Prints each script it applies
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

        // UserKeys__MigrationLockTimeoutMs: how long a script may wait for a lock before it gives up and is
        // tried again (0: wait forever). Default 2000.
        var lockTimeoutMs = (int)DatabaseUpgrader.DefaultLockTimeout.TotalMilliseconds;
        if (host.Configuration["UserKeys:MigrationLockTimeoutMs"] is { } configured
            && (!int.TryParse(configured, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out lockTimeoutMs)
                || lockTimeoutMs > 600_000))
        {
            await Console.Error.WriteLineAsync("migrate: UserKeys:MigrationLockTimeoutMs must be 0 to 600000").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var upgrader = new DatabaseUpgrader(host.ConnectionString, host.Logger)
        {
            Output = Console.Out,
            LockTimeout = TimeSpan.FromMilliseconds(lockTimeoutMs),
        };
        try
        {
            if (commandLine.Has("status"))
            {
                return await StatusAsync(upgrader, cancellationToken).ConfigureAwait(false);
            }

            if (commandLine.Value("script") is { } file)
            {
                await using var writer = new StreamWriter(file, append: false, new System.Text.UTF8Encoding(false));
                var pending = await upgrader.WriteScriptAsync(writer, cancellationToken).ConfigureAwait(false);
                await Console.Out.WriteLineAsync($"wrote {pending.Count} pending script(s) to {file} (nothing was run)").ConfigureAwait(false);
                return ExitCodes.Success;
            }

            if (commandLine.Has("dry-run"))
            {
                var status = await upgrader.GetStatusAsync(cancellationToken).ConfigureAwait(false);
                foreach (var script in status.Pending)
                {
                    await Console.Out.WriteLineAsync($"pending {script}").ConfigureAwait(false);
                }

                await Console.Out.WriteLineAsync(status.Pending.Count == 0
                    ? "schema is current; nothing to apply"
                    : $"{status.Pending.Count} script(s) would be applied (dry run: nothing changed)").ConfigureAwait(false);
                return ExitCodes.Success;
            }

            var result = await upgrader.UpgradeAsync(cancellationToken, repairChecksums: commandLine.Has("repair-checksums")).ConfigureAwait(false);
            if (result.Refused)
            {
                await Console.Error.WriteLineAsync($"migrate: refused: {result.Error}").ConfigureAwait(false);
                return ExitCodes.Refused;
            }

            if (!result.Successful)
            {
                await Console.Error.WriteLineAsync(
                    $"migrate: {result.FailedScript} failed and was rolled back: {result.Error}").ConfigureAwait(false);
                return ExitCodes.MigrationFailed;
            }

            await Console.Out.WriteLineAsync(result.Applied.Count == 0
                ? "schema is current; nothing to apply"
                : $"applied {result.Applied.Count} script(s); schema is current").ConfigureAwait(false);
            if (commandLine.Value("grant-to") is { } role)
            {
                return await GrantAsync(host.ConnectionString, role, cancellationToken).ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"migrate: the database could not be reached: {error.Message}").ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }
    }

    /// <summary><c>--grant-to ROLE</c>: the serving service's role gets rows, never the schema (migration 0014).</summary>
    private static async Task<int> GrantAsync(string connectionString, string role, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ServicePrivileges.GrantAsync(connection, role, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException error) when (error.SqlState is PostgresErrorCodes.InvalidParameterValue)
        {
            // PUBLIC, the schema's owner or a superuser: refused before anything is granted.
            await Console.Error.WriteLineAsync($"migrate: refused to grant to role '{role}': {error.MessageText}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (PostgresException error) when (error.SqlState is PostgresErrorCodes.UndefinedObject or PostgresErrorCodes.InsufficientPrivilege)
        {
            await Console.Error.WriteLineAsync($"migrate: could not grant to role '{role}': {error.MessageText}").ConfigureAwait(false);
            return ExitCodes.MigrationFailed;
        }

        await Console.Out.WriteLineAsync($"granted role '{role}' what the service needs (rows, not schema)").ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static async Task<int> StatusAsync(DatabaseUpgrader upgrader, CancellationToken cancellationToken)
    {
        var status = await upgrader.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        foreach (var script in status.Applied)
        {
            var state = status.Changed.Contains(script.Name) ? "CHANGED since applied"
                : status.Unknown.Contains(script.Name) ? "unknown to this build" : "";
            await Console.Out.WriteLineAsync(
                $"applied {script.Name} at {script.AppliedAt:yyyy-MM-dd HH:mm:ss}Z {state}".TrimEnd()).ConfigureAwait(false);
        }

        foreach (var script in status.Pending)
        {
            await Console.Out.WriteLineAsync($"pending {script}").ConfigureAwait(false);
        }

        await Console.Out.WriteLineAsync($"{status.Applied.Count} applied, {status.Pending.Count} pending, {status.Changed.Count} changed, " +
            $"{status.Unknown.Count} unknown to this build").ConfigureAwait(false);
        return status.Changed.Count > 0 || status.Unknown.Count > 0 ? ExitCodes.Refused : ExitCodes.Success;
    }
}
