using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using UserKeys.Api.Keys;
using UserKeys.Api.Provisioning;
using UserKeys.Api.Users;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Timestamps as RFC 3339 in UTC with an explicit offset and exactly the microsecond precision
/// PostgreSQL stores: <c>2026-11-24T10:00:00.123456+00:00</c>. (System.Text.Json's default drops
/// trailing zeros and writes 7 fractional digits.)
/// </summary>
internal sealed class UtcTimestampConverter : JsonConverter<DateTime>
{
    public const string Format = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'+00:00'";

    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTimeOffset().UtcDateTime;

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<byte> utf8 = stackalloc byte[32];
        writer.WriteStringValue(utf8[..Utf8(value, utf8)]);
    }

    /// <summary>
    /// <paramref name="value"/> in <see cref="Format"/>, as UTF-8 digits written by hand: the custom-format path
    /// of <see cref="DateTime.TryFormat(Span{char}, out int, ReadOnlySpan{char}, IFormatProvider?)"/> was a fifth
    /// of serialising a page of keys. A test compares the two on many instants.
    /// </summary>
    internal static int Utf8(DateTime value, Span<byte> destination)
    {
        var utc = value.Kind == DateTimeKind.Utc ? value : value.ToUniversalTime();
        DateOnly.FromDateTime(utc).Deconstruct(out var year, out var month, out var day);
        var time = utc.Ticks % TimeSpan.TicksPerDay;
        var seconds = time / TimeSpan.TicksPerSecond;
        var micros = time % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond;
        Digits(destination[..4], year);
        destination[4] = (byte)'-';
        Digits(destination.Slice(5, 2), month);
        destination[7] = (byte)'-';
        Digits(destination.Slice(8, 2), day);
        destination[10] = (byte)'T';
        Digits(destination.Slice(11, 2), seconds / 3600);
        destination[13] = (byte)':';
        Digits(destination.Slice(14, 2), seconds / 60 % 60);
        destination[16] = (byte)':';
        Digits(destination.Slice(17, 2), seconds % 60);
        destination[19] = (byte)'.';
        Digits(destination.Slice(20, 6), micros);
        "+00:00"u8.CopyTo(destination[26..]);
        return 32;
    }

    private static void Digits(Span<byte> destination, long value)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + value % 10);
            value /= 10;
        }
    }
}

/// <summary>Source-generated serialisation for every body the API writes (snake_case properties).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.Strict,
    Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(UserResponse))]
[JsonSerializable(typeof(UserLookupResponse))]
[JsonSerializable(typeof(UserPageResponse))]
[JsonSerializable(typeof(UserOffsetPageResponse))]
[JsonSerializable(typeof(KeyResponse))]
[JsonSerializable(typeof(CreatedKeyResponse))]
[JsonSerializable(typeof(KeyListResponse))]
[JsonSerializable(typeof(VerifyResponse))]
[JsonSerializable(typeof(ProvisionResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(Audit.AuditPageResponse))]
[JsonSerializable(typeof(Usage.UsageResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

internal sealed record HealthResponse(string Status);

/// <summary>
/// Reads request timestamps: RFC 3339 with an explicit offset (<c>Z</c> or <c>+hh:mm</c>), nothing
/// looser (no date alone, no local time, no number).
/// </summary>
internal sealed class RequestTimestampConverter : JsonConverter<DateTimeOffset>
{
    private static readonly string[] Formats = ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"];

    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String
            && DateTimeOffset.TryParseExact(reader.GetString(), Formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
            ? parsed.ToUniversalTime()
            : throw new JsonException("not an RFC 3339 timestamp with an offset");

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<byte> utf8 = stackalloc byte[32];
        writer.WriteStringValue(utf8[..UtcTimestampConverter.Utf8(value.UtcDateTime, utf8)]);
    }
}

/// <summary>
/// Source-generated reading of every request body: strict (a missing required field, a null where the
/// record says not-null, a string for a number: each fails the read), so that <see cref="RequestBody"/>
/// can say which field and why.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.Strict,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    MaxDepth = MaxDepth,
    Converters = [typeof(RequestTimestampConverter), typeof(OptionalConverterFactory)])]
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(UpdateUserRequest))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(ProvisionRequest))]
[JsonSerializable(typeof(VerifyRequest))]
[JsonSerializable(typeof(UpdateKeyRequest))]
[JsonSerializable(typeof(RollKeyRequest))]
[JsonSerializable(typeof(JsonElement?))]
[JsonSerializable(typeof(Refill))]
[JsonSerializable(typeof(IReadOnlyList<UserKeys.Data.Keys.RateLimitRule>))]
[JsonSerializable(typeof(long?))]
[JsonSerializable(typeof(int?))]
[JsonSerializable(typeof(bool?))]
[JsonSerializable(typeof(DateTimeOffset?))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(DateTimeOffset))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(int))]
internal sealed partial class RequestJsonContext : JsonSerializerContext
{
    public const int MaxDepth = 16;
}
