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
        Span<char> buffer = stackalloc char[32];
        var utc = value.Kind == DateTimeKind.Utc ? value : value.ToUniversalTime();
        utc.TryFormat(buffer, out var written, Format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(buffer[..written]);
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
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(UpdateUserRequest))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(ProvisionRequest))]
[JsonSerializable(typeof(VerifyRequest))]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

internal sealed record HealthResponse(string Status);
