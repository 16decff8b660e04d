using Npgsql;

namespace UserKeys.Api.Infrastructure;

/// <summary>Where the connection string comes from: <c>--connection</c>, else <c>ConnectionStrings__UserKeys</c>.</summary>
internal static class DatabaseConfiguration
{
    public const string ConnectionStringName = "UserKeys";

    /// <summary>The optional direct connection for the credential-change listener (<c>ConnectionStrings__UserKeysListen</c>).</summary>
    public const string ListenConnectionStringName = "UserKeysListen";

    /// <summary>The configured connection string, validated, or null with a message saying what to set.</summary>
    public static string? GetConnectionString(IConfiguration configuration, out string? error)
    {
        var connectionString = Read(configuration);
        error = Check(connectionString);
        return error is null ? connectionString : null;
    }

    /// <summary>The configured connection string as it is (null when none).</summary>
    public static string? Read(IConfiguration configuration) =>
        configuration["connection"] ?? configuration.GetConnectionString(ConnectionStringName);

    /// <summary>The configured listener connection string, or null when none is set.</summary>
    public static string? ReadListen(IConfiguration configuration) =>
        configuration.GetConnectionString(ListenConnectionStringName) is { Length: > 0 } listen ? listen : null;

    /// <summary>Null when <paramref name="connectionString"/> is usable, else what is wrong (never the password).</summary>
    public static string? Check(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return "no database configured: set ConnectionStrings__UserKeys or pass --connection \"Host=...;Database=...\"";
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
            return null;
        }
        catch (ArgumentException invalid)
        {
            // The message names the bad keyword, never the password.
            return $"the connection string is not valid: {invalid.Message}";
        }
    }
}
