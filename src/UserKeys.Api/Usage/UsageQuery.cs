using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.OpenApi;

namespace UserKeys.Api.Usage;

/// <summary>
/// <c>GET .../keys/{key_id}/usage</c>'s query: <c>granularity</c> (<c>hour</c>, the default, or <c>day</c>, UTC), and the
/// range <c>from</c>..<c>to</c> (RFC 3339; from rounded down and to rounded up to whole buckets; defaults: up to the end of
/// the current bucket, 24 hours or 30 days back). At most 744 hours (31 days) or 400 days: 400 beyond.
/// </summary>
internal sealed record UsageQuery(bool Daily, DateTime From, DateTime To) : IBindableFromHttpContext<UsageQuery>, IEndpointParameterMetadataProvider
{
    public const int MaxHours = 31 * 24;
    public const int MaxDays = 400;

    public TimeSpan Bucket => Daily ? TimeSpan.FromDays(1) : TimeSpan.FromHours(1);

    public static ValueTask<UsageQuery?> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var reader = new QueryStrings(context.Request.Query);
        var granularity = reader.OneOf("granularity", ["hour", "day"]) ?? "hour";
        var daily = granularity == "day";
        var bucket = daily ? TimeSpan.FromDays(1) : TimeSpan.FromHours(1);
        var now = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        var to = Timestamp(reader, "to") is { } givenTo ? Ceiling(givenTo, bucket) : Floor(now, bucket) + bucket;
        var from = Timestamp(reader, "from") is { } givenFrom ? Floor(givenFrom, bucket) : to - (daily ? TimeSpan.FromDays(30) : TimeSpan.FromHours(24));
        if (!reader.Errors.ContainsKey("from") && !reader.Errors.ContainsKey("to"))
        {
            var buckets = (to - from).Ticks / bucket.Ticks;
            if (buckets <= 0)
            {
                reader.Errors["to"] = ["must be later than from"];
            }
            else if (buckets > (daily ? MaxDays : MaxHours))
            {
                reader.Errors["from"] = [daily ? $"is too far back: at most {MaxDays} days of days" : $"is too far back: at most {MaxHours / 24} days of hours (use granularity=day)"];
            }
        }

        reader.ThrowIfInvalid();
        return ValueTask.FromResult<UsageQuery?>(new UsageQuery(daily, from, to));
    }

    public static void PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new QueryParametersMetadata(
            new("from", "string", "RFC 3339 timestamp; rounded down to its bucket (default: 24 hours or 30 days before to)"),
            new("to", "string", "RFC 3339 timestamp, exclusive; rounded up to a bucket's start (default: the end of the current bucket)"),
            new("granularity", "string", $"'hour' (default; at most {MaxHours} buckets) or 'day' (UTC; at most {MaxDays})")));

    private static DateTime? Timestamp(QueryStrings reader, string name)
    {
        if (reader.Single(name) is not { } text)
        {
            return null;
        }

        if (DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"],
                CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
            && parsed.UtcDateTime.Year is >= 2000 and <= 9000)
        {
            return parsed.UtcDateTime;
        }

        reader.Errors[name] = ["must be an RFC 3339 timestamp with an offset, e.g. 2026-11-25T00:00:00Z"];
        return null;
    }

    private static DateTime Floor(DateTime time, TimeSpan bucket) => new(time.Ticks - (time.Ticks % bucket.Ticks), DateTimeKind.Utc);

    private static DateTime Ceiling(DateTime time, TimeSpan bucket) => time.Ticks % bucket.Ticks == 0 ? time : Floor(time, bucket) + bucket;
}

/// <summary>One bucket of a key's usage: its start and the count of each outcome.</summary>
public sealed record UsageBucketResponse(
    DateTime Start, long Valid, long Revoked, long Expired, long Disabled, long InsufficientPermissions, long RateLimited, long UsageExceeded);

/// <summary>Every bucket of the range, oldest first, zeros included.</summary>
public sealed record UsageResponse(IReadOnlyList<UsageBucketResponse> Items);
