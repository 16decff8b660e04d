using System.Data;
using System.Text;
using System.Text.Json;
using Dapper;

namespace UserKeys.Data.Keys;

/// <summary>One named rate limit of a key: at most <see cref="Limit"/> units per window of <see cref="DurationMs"/>.</summary>
[System.ComponentModel.Description("{\"name\": \"...\", \"limit\": 1..1000000, \"duration_ms\": 1000..86400000}")]
public sealed record RateLimitRule(string Name, long Limit, long DurationMs);

/// <summary>
/// A key's rate limits as <c>api_keys.rate_limits</c> holds them (jsonb: <c>[{"name", "limit", "duration_ms"}]</c>),
/// read and written through <see cref="Handler"/>. Not a collection type on purpose: Dapper would expand one.
/// </summary>
public sealed class RateLimitRules
{
    public static readonly RateLimitRules None = new([]);

    public RateLimitRules(IReadOnlyList<RateLimitRule> rules) => Rules = rules;

    public IReadOnlyList<RateLimitRule> Rules { get; }

    public bool IsEmpty => Rules.Count == 0;

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartArray();
            foreach (var rule in Rules)
            {
                writer.WriteStartObject();
                writer.WriteString("name", rule.Name);
                writer.WriteNumber("limit", rule.Limit);
                writer.WriteNumber("duration_ms", rule.DurationMs);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static RateLimitRules Parse(string json)
    {
        // Most keys have none: jsonb writes an empty array as exactly "[]" (a JsonDocument for it cost 6% of a
        // page of keys' CPU in the service).
        if (json == "[]")
        {
            return None;
        }

        using var document = JsonDocument.Parse(json);
        var rules = document.RootElement.EnumerateArray()
            .Select(rule => new RateLimitRule(
                rule.GetProperty("name").GetString()!, rule.GetProperty("limit").GetInt64(), rule.GetProperty("duration_ms").GetInt64()))
            .ToArray();
        return rules.Length == 0 ? None : new RateLimitRules(rules);
    }

    /// <summary>jsonb text in, JSON text out (the statements cast it: <c>@rate_limits::jsonb</c>).</summary>
    internal sealed class Handler : SqlMapper.TypeHandler<RateLimitRules>
    {
        public override RateLimitRules Parse(object value) => value is string json ? RateLimitRules.Parse(json) : None;

        public override void SetValue(IDbDataParameter parameter, RateLimitRules? value)
        {
            ArgumentNullException.ThrowIfNull(parameter);
            parameter.DbType = DbType.String;
            parameter.Value = value?.ToJson() ?? (object)DBNull.Value;
        }
    }
}

/// <summary>What <c>rate_limits/lease</c> handed out of a window: units granted (0: fewer than needed were left), what is left of it, and its end.</summary>
public sealed record RateLimitLease
{
    public long Granted { get; init; }

    public long Remaining { get; init; }

    public DateTime ResetAt { get; init; }
}
