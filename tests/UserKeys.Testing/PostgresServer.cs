using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Testcontainers.PostgreSql;
using UserKeys.Data.Migrations;

namespace UserKeys.Testing;

/// <summary>
/// The PostgreSQL the tests run against: the server named by <c>USERKEYS_TEST_DATABASE</c> (a connection
/// string for a role that may create databases), else one started by Testcontainers. When neither can
/// be had, every database test FAILS with a message that says how to provide one; none is skipped.
/// </summary>
public static class PostgresServer
{
    public const string Variable = "USERKEYS_TEST_DATABASE";

    private static readonly Lazy<Task<string>> AdminConnectionString = new(ResolveServerAsync);
    private static readonly Lazy<Task<string>> Template = new(CreateTemplateAsync);
    private static readonly Lazy<Task<string>> ServicePassword = new(EnsureServiceRoleAsync);

    /// <summary>
    /// The role the service runs as in the tests: it may read and write rows, never the schema, granted by the real
    /// <c>userkeys_grant_service_role</c> (what <c>migrate --grant-to</c> runs) on the template every migrated test database
    /// is cloned from. It belongs to the server and stays there (its password is derived from the test role's, so that
    /// the two test processes that run at once agree on it).
    /// </summary>
    public const string ServiceRole = "userkeys_test_service";

    /// <summary>A connection string to the server's maintenance database, for a role that may create databases.</summary>
    public static Task<string> GetAdminConnectionStringAsync() => AdminConnectionString.Value;

    /// <summary>A new database with the current schema (a clone of a template migrated once per test run).</summary>
    public static async Task<TestDatabase> CreateMigratedDatabaseAsync()
    {
        var template = await Template.Value.ConfigureAwait(false);
        var name = NewDatabaseName();
        await ExecuteAdminAsync(TestSql.WithIdentifiers("create_database_from_template", ("database", name), ("template", template))).ConfigureAwait(false);
        var owner = await ConnectionStringForAsync(name).ConfigureAwait(false);
        var service = new NpgsqlConnectionStringBuilder(owner) { Username = ServiceRole, Password = await ServicePassword.Value.ConfigureAwait(false) };
        return new TestDatabase(name, owner, service.ConnectionString);
    }

    /// <summary>A new, empty database (for the upgrader's own tests).</summary>
    public static async Task<TestDatabase> CreateEmptyDatabaseAsync()
    {
        var name = NewDatabaseName();
        await ExecuteAdminAsync(TestSql.WithIdentifiers("create_database", ("database", name))).ConfigureAwait(false);
        return new TestDatabase(name, await ConnectionStringForAsync(name).ConfigureAwait(false));
    }

    /// <summary>Drops a role a test created (roles are the server's, not a database's).</summary>
    public static Task DropRoleAsync(string role) => ExecuteAdminAsync(TestSql.WithIdentifiers("drop_role", ("role", role)));

    /// <summary>
    /// Drops a test database, disconnecting its sessions. An autovacuum worker that happens to be in it (the audit
    /// triggers make small tables busy) belongs to no role the test role may signal: the drop fails with 42501 until
    /// the worker moves on, so it is tried a few times.
    /// </summary>
    internal static async Task DropDatabaseAsync(string name)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ExecuteAdminAsync(TestSql.WithIdentifiers("drop_database", ("database", name))).ConfigureAwait(false);
                return;
            }
            catch (PostgresException error) when (error.SqlState == PostgresErrorCodes.InsufficientPrivilege && attempt < 20)
            {
                await Task.Delay(100 * attempt).ConfigureAwait(false);
            }
        }
    }

    private static string NewDatabaseName() => $"uk_test_{Guid.NewGuid():N}"[..30];

    private static async Task<string> ConnectionStringForAsync(string database) =>
        new NpgsqlConnectionStringBuilder(await GetAdminConnectionStringAsync().ConfigureAwait(false)) { Database = database }.ConnectionString;

    private static async Task ExecuteAdminAsync(string sql)
    {
        // No pooling: a pooled idle connection to a template would block cloning it.
        var builder = new NpgsqlConnectionStringBuilder(await GetAdminConnectionStringAsync().ConfigureAwait(false)) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private static async Task<string> ResolveServerAsync()
    {
        var configured = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            await using var probe = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(configured) { Pooling = false }.ConnectionString);
            try
            {
                await probe.OpenAsync().ConfigureAwait(false);
            }
            catch (Exception error) when (error is NpgsqlException or TimeoutException)
            {
                throw new InvalidOperationException(
                    $"{Variable} is set, but its PostgreSQL cannot be reached ({error.Message}). " +
                    "Start it (scripts/pg-local prints a connection string) or fix the variable.", error);
            }

            return configured;
        }

        try
        {
            var container = new PostgreSqlBuilder("postgres:15-alpine").Build();
            await container.StartAsync().ConfigureAwait(false);
            // Testcontainers' reaper removes the container when the test process exits.
            return container.GetConnectionString();
        }
        catch (Exception error)
        {
            throw new InvalidOperationException(
                $"No PostgreSQL for the tests: {Variable} is not set and Testcontainers could not start a container " +
                $"({error.GetType().Name}: {error.Message}). Run the tests with scripts/test, which starts a local " +
                $"PostgreSQL from the machine's binaries, or set {Variable} to a connection string for a role that may create databases.",
                error);
        }
    }

    /// <summary>Creates <see cref="ServiceRole"/> when missing and sets its password; returns the password.</summary>
    private static async Task<string> EnsureServiceRoleAsync()
    {
        var admin = new NpgsqlConnectionStringBuilder(await GetAdminConnectionStringAsync().ConfigureAwait(false)) { Pooling = false };
        var password = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"userkeys-test-service:{admin.Password}:{admin.Host}:{admin.Port}")))[..32];
        // One test process at a time (Api.Tests and Data.Tests start together): the lock goes with the session.
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await connection.QuerySingleAsync<string>(TestSql.Get("lock_service_role_setup")).ConfigureAwait(false);
        var parameters = new { role = ServiceRole, password };
        if (!await connection.QuerySingleAsync<bool>(TestSql.Get("role_exists"), parameters).ConfigureAwait(false))
        {
            await connection.ExecuteAsync(await connection.QuerySingleAsync<string>(TestSql.Get("create_role_statement"), parameters).ConfigureAwait(false))
                .ConfigureAwait(false);
        }

        await connection.ExecuteAsync(await connection.QuerySingleAsync<string>(TestSql.Get("alter_role_password_statement"), parameters).ConfigureAwait(false))
            .ConfigureAwait(false);
        return password;
    }

    private static async Task<string> CreateTemplateAsync()
    {
        var name = $"uk_template_{Environment.ProcessId}_{Guid.NewGuid():N}"[..40];
        await ExecuteAdminAsync(TestSql.WithIdentifiers("create_database", ("database", name))).ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => DropDatabaseAsync(name).GetAwaiter().GetResult();

        // Migrate with the real upgrader, without pooling, so no connection to the template lingers.
        var connectionString = new NpgsqlConnectionStringBuilder(await ConnectionStringForAsync(name).ConfigureAwait(false)) { Pooling = false }.ConnectionString;
        var result = await new DatabaseUpgrader(connectionString, NullLogger.Instance).UpgradeAsync(CancellationToken.None).ConfigureAwait(false);
        if (!result.Successful)
        {
            throw new InvalidOperationException($"Migrating the test template failed at {result.FailedScript}: {result.Error}");
        }

        await ServicePassword.Value.ConfigureAwait(false);
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            await ServicePrivileges.GrantAsync(connection, ServiceRole, CancellationToken.None).ConfigureAwait(false);
        }

        return name;
    }
}
