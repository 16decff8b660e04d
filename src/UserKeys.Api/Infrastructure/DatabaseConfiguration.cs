using Npgsql;

namespace UserKeys.Api.Infrastructure;

/// <summary>Where the connection string comes from: <c>--connection</c>, else <c>ConnectionStrings__UserKeys</c>.</summary>
internal static class DatabaseConfiguration
{
    public const string ConnectionStringName = "UserKeys";

    /// <summary>The validated connection string, or null with a message saying what to set.</summary>
    public static string? GetConnectionString(IConfiguration configuration, out string? error)
    {
        error = null;
        var connectionString = configuration["connection"] ?? configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            error = "no database configured: set ConnectionStrings__UserKeys or pass --connection \"Host=...;Database=...\"";
            return null;
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException invalid)
        {
            // The message names the bad keyword, never the password.
            error = $"the connection string is not valid: {invalid.Message}";
            return null;
        }

        return connectionString;
    }
}
