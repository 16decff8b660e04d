using System.ComponentModel.DataAnnotations;
using System.Net;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Settings from appsettings.json, environment variables (<c>UserKeys__ReadinessTimeoutSeconds</c>) or
/// the command line. Validated at start: a bad setting stops the service with a message naming it.
/// </summary>
internal sealed class ServiceOptions : IValidatableObject
{
    public const string Section = "UserKeys";

    /// <summary>How long <c>/readyz</c> waits for the database before answering 503.</summary>
    [Range(1, 60)]
    public int ReadinessTimeoutSeconds { get; set; } = 2;

    /// <summary>How long a verified key may be served from memory (0 turns the cache off). Changes evict at once regardless.</summary>
    [Range(0, 300)]
    public int AuthCacheSeconds { get; set; } = 30;

    /// <summary>At most this many keys are cached; when full, the least recently used go first.</summary>
    [Range(1, 10_000_000)]
    public int AuthCacheMaxEntries { get; set; } = 100_000;

    /// <summary>How long a stopping service lets in-flight requests finish.</summary>
    [Range(1, 300)]
    public int ShutdownTimeoutSeconds { get; set; } = 30;

    /// <summary>Keys a user may have, revoked ones included until deleted; one more is 409.</summary>
    [Range(1, 100_000)]
    public int MaxKeysPerUser { get; set; } = DefaultMaxKeysPerUser;

    public const int DefaultMaxKeysPerUser = 100;

    /// <summary>Audit events older than this many days are deleted by the retention purge (never those of the last day).</summary>
    [Range(1, 36_500)]
    public int AuditRetentionDays { get; set; } = DefaultAuditRetentionDays;

    public const int DefaultAuditRetentionDays = 365;

    /// <summary>How often each instance runs the retention purge (one instance at a time purges).</summary>
    [Range(1, 86_400)]
    public int AuditPurgeIntervalSeconds { get; set; } = 3600;

    /// <summary>Hourly usage buckets older than this many days are deleted.</summary>
    [Range(1, 36_500)]
    public int UsageRetentionDays { get; set; } = 90;

    /// <summary>
    /// The database connection string points at a pooler in transaction mode (PgBouncer's <c>pool_mode = transaction</c>):
    /// no statement is prepared (PgBouncer 1.18 keeps no prepared statements across transactions), no session setting is
    /// sent at connect, and the credential-change listener needs <c>ConnectionStrings:UserKeysListen</c>, a direct
    /// connection; without one the auth cache stays off.
    /// </summary>
    public bool TransactionPooler { get; set; }

    /// <summary>
    /// With several hosts in <c>ConnectionStrings:UserKeys</c>: reads that may be slightly stale (a user, listings, usage,
    /// the audit log) go to a standby when one is up; writes and every credential check stay on the primary.
    /// </summary>
    public bool ReadFromStandbys { get; set; }

    /// <summary>Proxies whose X-Forwarded-For is believed: addresses or CIDR networks, comma-separated.</summary>
    public string? TrustedProxies { get; set; }

    public RateLimitOptions RateLimits { get; set; } = new();

    /// <summary>
    /// Where the Prometheus scrape endpoint (<c>/metrics</c>) listens, on a listener of its own, never the public port:
    /// <c>http://127.0.0.1:9464</c>, several separated by <c>;</c>. None: metrics are not collected at all.
    /// </summary>
    public string? MetricsUrls { get; set; }

    /// <summary><see cref="MetricsUrls"/> as listener prefixes (each ending in <c>/</c>).</summary>
    public IReadOnlyList<string> MetricsUrlList() =>
        (MetricsUrls ?? "").Split([';', ',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(url => url.EndsWith('/') ? url : url + "/").ToList();

    public IReadOnlyList<string> TrustedProxyList() =>
        (TrustedProxies ?? "").Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var proxy in TrustedProxyList())
        {
            var valid = proxy.Contains('/', StringComparison.Ordinal) ? System.Net.IPNetwork.TryParse(proxy, out _) : IPAddress.TryParse(proxy, out _);
            if (!valid)
            {
                yield return new ValidationResult($"'{proxy}' is neither an IP address nor a CIDR network", [nameof(TrustedProxies)]);
            }
        }

        foreach (var url in MetricsUrlList())
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.Port <= 0 || uri.AbsolutePath != "/")
            {
                yield return new ValidationResult($"'{url.TrimEnd('/')}' is not an http://host:port URL", [nameof(MetricsUrls)]);
            }
        }

        var nested = new List<ValidationResult>();
        Validator.TryValidateObject(RateLimits, new ValidationContext(RateLimits), nested, validateAllProperties: true);
        foreach (var result in nested)
        {
            yield return new ValidationResult(result.ErrorMessage, result.MemberNames.Select(name => $"{nameof(RateLimits)}:{name}").ToList());
        }
    }

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

    /// <summary><c>ConnectionStrings:UserKeysListen</c>: a direct connection (not through a pooler) for LISTEN, when the main one is pooled.</summary>
    public string? ListenConnectionString { get; set; }
}
