using Npgsql;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Keys;
using UserKeys.Data.Migrations;
using UserKeys.Data.Users;

namespace UserKeys.Api.Commands;

/// <summary>
/// <c>UserKeys.Api bootstrap-admin --email E [--name N] [--if-missing] [--promote]</c>: the first admin is
/// made here, never by an unauthenticated HTTP call. Creates that admin if missing, else issues it a new
/// key. A member with that email is promoted only with <c>--promote</c>: a member may set its own email to
/// anything, so an email proves nothing. Prints ONLY the token on stdout, so <c>TOKEN=$(...)</c> works.
/// </summary>
internal static class BootstrapAdminCommand
{
    public const string KeyName = "bootstrap";

    public static async Task<int> RunAsync(CommandLine commandLine, CancellationToken cancellationToken)
    {
        var email = commandLine.Value("email")?.Trim();
        var name = commandLine.Value("name")?.Trim();
        if (email is null)
        {
            await Console.Error.WriteLineAsync("bootstrap-admin: --email is required").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (UserInput.CheckEmail(email) is { } emailProblem)
        {
            await Console.Error.WriteLineAsync($"bootstrap-admin: --email {emailProblem}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (name is not null && (Text.CountCharacters(name) > UserInput.NameMaxLength || !Text.IsStorable(name)))
        {
            await Console.Error.WriteLineAsync($"bootstrap-admin: --name must be at most {UserInput.NameMaxLength} printable characters").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        using var host = await CommandHost.CreateAsync(commandLine, "bootstrap-admin", "UserKeys.BootstrapAdmin").ConfigureAwait(false);
        if (host is null)
        {
            return ExitCodes.Usage;
        }

        var logger = host.Logger;
        await using var dataSource = NpgsqlDataSource.Create(host.ConnectionString);
        try
        {
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
            {
                var schema = await SchemaStatus.ReadAsync(connection, cancellationToken).ConfigureAwait(false);
                if (schema.Pending.Count > 0)
                {
                    await Console.Error.WriteLineAsync(
                        $"bootstrap-admin: the database is not migrated (pending: {string.Join(", ", schema.Pending)}); run 'UserKeys.Api migrate' first").ConfigureAwait(false);
                    return ExitCodes.Unavailable;
                }
            }

            var units = new UnitOfWorkFactory(dataSource);
            if (commandLine.Has("if-missing")
                && await units.ReadAsync((unit, ct) => unit.Users.FindByEmailAsync(email, ct), cancellationToken).ConfigureAwait(false) is { Role: Roles.Admin } existing)
            {
                logger.LogInformation("Admin user {UserId} exists; no key issued (--if-missing)", existing.Id);
                return ExitCodes.Success;
            }

            // The command obeys the service's key cap (UserKeys__MaxKeysPerUser).
            var maxKeys = host.Configuration.GetValue(ServiceOptions.Section + ":" + nameof(ServiceOptions.MaxKeysPerUser), ServiceOptions.DefaultMaxKeysPerUser);
            var promoted = new System.Runtime.CompilerServices.StrongBox<long>(-1);
            var token = await IssueAsync(units, email, string.IsNullOrEmpty(name) ? null : name, logger, cancellationToken,
                promote: commandLine.Has("promote"), maxKeys: maxKeys, promotedKeys: promoted).ConfigureAwait(false);
            if (token is null)
            {
                await Console.Error.WriteLineAsync(
                    "bootstrap-admin: the user with this email is a member, not an admin; nothing was changed. " +
                    "A member may set its own email to anything, so an email proves nothing: pass --promote to make that member an admin.").ConfigureAwait(false);
                return ExitCodes.Refused;
            }

            if (promoted.Value >= 0)
            {
                // Every key the member held is an admin's key now: whoever holds one acts as an admin.
                await Console.Error.WriteLineAsync(
                    $"bootstrap-admin: promoted {email} to admin; it held {promoted.Value} key(s) before this one, each of which now acts " +
                    "as an admin's key (revoke any that should not).").ConfigureAwait(false);
            }

            await Console.Out.WriteLineAsync(token).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (RuleError limit)
        {
            await Console.Error.WriteLineAsync($"bootstrap-admin: {limit.Message}").ConfigureAwait(false);
            return ExitCodes.Refused;
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"bootstrap-admin: the database could not be reached: {error.Message}").ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }
    }

    /// <summary>
    /// The admin with this email, created if need be (and promoted from member only when
    /// <paramref name="promote"/>), and a new key for it with every scope; returns the token, or null when
    /// the user is a member and <paramref name="promote"/> is false. A promotion sets <paramref name="promotedKeys"/> to
    /// the number of keys the member held.
    /// </summary>
    internal static async Task<string?> IssueAsync(
        UnitOfWorkFactory units, string email, string? name, ILogger logger, CancellationToken cancellationToken, bool promote = false,
        int maxKeys = ServiceOptions.DefaultMaxKeysPerUser, System.Runtime.CompilerServices.StrongBox<long>? promotedKeys = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await units.RunAsync(Data.Audit.AuditActor.Command("bootstrap-admin"), async (unit, ct) =>
                {
                    var user = await unit.Users.FindByEmailAsync(email, ct).ConfigureAwait(false);
                    if (user is null)
                    {
                        user = await unit.Users.CreateAsync(new NewUser(email, name, Roles.Admin), ct).ConfigureAwait(false);
                        logger.LogInformation("Created admin user {UserId}", user.Id);
                    }
                    else if (user.Role != Roles.Admin)
                    {
                        if (!promote)
                        {
                            return null;
                        }

                        // The trigger of migration 0004 tells every instance's auth cache.
                        user = await unit.Users.UpdateAsync(new UserUpdate(user.Id, Role: Roles.Admin), ct).ConfigureAwait(false);
                        var held = await unit.Keys.CountByUserAsync(user.Id, ct).ConfigureAwait(false);
                        promotedKeys?.Value = held;
                        logger.LogWarning("User {UserId} existed as a member and is now an admin (--promote); it holds {KeyCount} keys", user.Id, held);
                    }

                    var issued = ApiToken.Generate();
                    await unit.Users.LockForNewKeyAsync(user.Id, ct).ConfigureAwait(false);
                    var key = await unit.Keys.CreateAsync(
                            new NewApiKey(user.Id, KeyName, issued.Prefix, issued.Hash, null, Scopes.All), maxKeys, ct).ConfigureAwait(false)
                        ?? throw new RuleError("Too many keys", $"admin user {user.Id} has {maxKeys} keys already; delete one first");
                    logger.LogInformation("Issued key {KeyId} ({Prefix}...) to admin user {UserId}", key.Id, key.Prefix, user.Id);
                    return issued.Token;
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (ConflictError) when (attempt == 1)
            {
                // Another bootstrap created the same email meanwhile: the second attempt finds it.
            }
        }
    }
}
