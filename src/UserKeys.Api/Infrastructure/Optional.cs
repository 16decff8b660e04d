using System.Text.Json;
using System.Text.Json.Serialization;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// A PATCH field: absent (<see cref="IsSet"/> false: leave the stored value alone), or given, possibly
/// as <c>null</c>. Reads from JSON through <see cref="OptionalConverterFactory"/>; an absent property
/// is simply never read, so it keeps the default, unset value.
/// </summary>
public readonly record struct Optional<T>(bool IsSet, T? Value) : IOptional
{
    object? IOptional.BoxedValue => Value;
}

/// <summary>Untyped access for the request body validator.</summary>
public interface IOptional
{
    bool IsSet { get; }

    object? BoxedValue { get; }
}

/// <summary>Reads <see cref="Optional{T}"/>: any JSON value, <c>null</c> included, makes it set.</summary>
internal sealed class OptionalConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(Optional<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(OptionalConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class OptionalConverter<T> : JsonConverter<Optional<T>>
    {
        public override bool HandleNull => true;

        public override Optional<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.Null)
            {
                return new Optional<T>(true, JsonSerializer.Deserialize(ref reader, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)options.GetTypeInfo(typeof(T))));
            }

            // A value type that cannot be null (Optional<bool>): null is not a value of it, never its default.
            return default(T) is null ? new Optional<T>(true, default) : throw new JsonException("null is not a value of this field");
        }

        public override void Write(Utf8JsonWriter writer, Optional<T> value, JsonSerializerOptions options)
        {
            ArgumentNullException.ThrowIfNull(writer);
            if (value.Value is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                JsonSerializer.Serialize(writer, value.Value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)options.GetTypeInfo(typeof(T)));
            }
        }
    }
}
