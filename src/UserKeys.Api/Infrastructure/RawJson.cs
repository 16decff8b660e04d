using System.Text.Json;
using System.Text.Json.Serialization;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// JSON the service stores and returns without interpreting it (a key's <c>meta</c>, an audit event's
/// <c>changes</c>): jsonb's text from PostgreSQL, written into a response as it is.
/// </summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(string Text)
{
    public static RawJson? From(string? text) => text is null ? null : new RawJson(text);
}

internal sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    // Skips re-validation: the text is jsonb's output, valid JSON by construction.
    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteRawValue(value.Text, skipInputValidation: true);
    }
}
