using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using UserKeys.Api.Auth;

namespace UserKeys.Api.Infrastructure;

/// <summary><c>UserKeys__RateLimits__*</c> (../shared/API.md, "Limits and back-pressure"). 0 turns a limit off.</summary>
internal sealed class RateLimitOptions
{
    /// <summary>Failed credential checks per client address and second (burst: twice that).</summary>
    [Range(0, 1_000_000)]
    public int FailuresPerAddressPerSecond { get; set; } = 20;

    /// <summary>Calls authenticated by one key per second (burst: twice that).</summary>
    [Range(0, 10_000_000)]
    public int PerKeyPerSecond { get; set; } = 1000;
}

/// <summary>
/// Failed credential checks (a bearer or <c>verify</c> token that is malformed, unknown, revoked, expired)
/// per client address: a token bucket per address (System.Threading.RateLimiting) that only failures drain.
/// An address with no tokens left gets 429 before any database work, unless its token is a valid key
/// this instance has cached (valid keys are never throttled by address).
/// </summary>
internal sealed class FailureLimiter : IDisposable
{
    public const string PolicyName = "failures";

    private readonly PartitionedRateLimiter<string>? _limiter;

    public FailureLimiter(IOptions<ServiceOptions> options)
    {
        PerSecond = options.Value.RateLimits.FailuresPerAddressPerSecond;
        if (PerSecond > 0)
        {
            var bucket = RateLimits.Bucket(PerSecond);
            _limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ => bucket));
        }
    }

    public int PerSecond { get; }

    /// <summary>Whether the address has used up its failures (then the answer is 429).</summary>
    public bool IsExhausted(string address)
    {
        if (_limiter is null)
        {
            return false;
        }

        // Not AttemptAcquire(0): the bucket refills continuously, and a fraction of a token counts as
        // "available" for zero permits while a whole one cannot be taken.
        return _limiter.GetStatistics(address) is { CurrentAvailablePermits: < 1 };
    }

    public void RecordFailure(string address) => _limiter?.AttemptAcquire(address).Dispose();

    public void Dispose() => _limiter?.Dispose();
}

internal static class RateLimits
{
    public const string PerKeyPolicyName = "per-key";

    public static TokenBucketRateLimiterOptions Bucket(int perSecond) => new()
    {
        TokenLimit = 2 * perSecond,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>
    /// The address failures are counted against: the socket's, or X-Forwarded-For's as ForwardedHeaders resolved it from a
    /// trusted proxy (<see cref="Partition"/>).
    /// </summary>
    public static string ClientAddress(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } address ? Partition(address) : "local";

    /// <summary>
    /// An IPv4 address as it is; an IPv6 address as its /64, the block one subscriber gets: rotating addresses within it
    /// escapes nothing. An IPv4-mapped IPv6 address is its IPv4 address.
    /// </summary>
    public static string Partition(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }

    public static IServiceCollection AddUserKeysRateLimits(this IServiceCollection services)
    {
        services.AddSingleton<FailureLimiter>();
        // Forwarded headers are believed only from the proxies listed in UserKeys__TrustedProxies
        // (addresses or CIDR networks); nothing is trusted by default, loopback included.
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ServiceOptions>>((forwarded, service) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
            forwarded.ForwardLimit = null;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in service.Value.TrustedProxyList())
            {
                if (proxy.Contains('/', StringComparison.Ordinal))
                {
                    forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(proxy));
                }
                else
                {
                    forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
                }
            }
        });
        return services;
    }

    /// <summary>429 problem+json with Retry-After and the IETF httpapi draft's RateLimit and RateLimit-Policy fields.</summary>
    public static async Task WriteTooManyAsync(HttpContext context, string policy, int perSecond, string detail)
    {
        context.RequestServices.GetRequiredService<ServiceMetrics>().RateLimited(policy);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        // A token bucket of perSecond tokens a second has one again within a second.
        response.Headers.RetryAfter = "1";
        response.Headers["RateLimit-Policy"] = string.Create(CultureInfo.InvariantCulture, $"\"{policy}\";q={perSecond};w=1");
        response.Headers["RateLimit"] = string.Create(CultureInfo.InvariantCulture, $"\"{policy}\";r=0;t=1");
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests",
                Detail = detail + " Retry after the time Retry-After gives.",
            },
        }).ConfigureAwait(false);
    }
}
