using System.ComponentModel.DataAnnotations;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Settings from appsettings.json, environment variables (<c>UserKeys__ReadinessTimeoutSeconds</c>) or
/// the command line. Validated at start: a bad setting stops the service with a message naming it.
/// </summary>
internal sealed class ServiceOptions
{
    public const string Section = "UserKeys";

    /// <summary>How long <c>/readyz</c> waits for the database before answering 503.</summary>
    [Range(1, 60)]
    public int ReadinessTimeoutSeconds { get; set; } = 2;

    /// <summary>How long a verified key may be served from memory (0 turns the cache off). Revocation evicts at once regardless.</summary>
    [Range(0, 300)]
    public int AuthCacheSeconds { get; set; } = 30;

    /// <summary>How long a stopping service lets in-flight requests finish.</summary>
    [Range(1, 300)]
    public int ShutdownTimeoutSeconds { get; set; } = 30;

    /// <summary>What is wrong with the configured settings (empty when nothing is), each naming its setting.</summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var options = new ServiceOptions();
        try
        {
            configuration.GetSection(Section).Bind(options);
        }
        catch (InvalidOperationException unreadable)
        {
            // "Failed to convert configuration value 'abc' at 'UserKeys:ShutdownTimeoutSeconds' to type 'System.Int32'."
            return [unreadable.Message];
        }

        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results.Select(result => $"{Section}:{string.Join(",", result.MemberNames)}: {result.ErrorMessage}").ToList();
    }
}

/// <summary>The database: <c>--connection</c>, else <c>ConnectionStrings__UserKeys</c> (see <see cref="DatabaseConfiguration"/>).</summary>
internal sealed class DatabaseOptions
{
    public string? ConnectionString { get; set; }
}
