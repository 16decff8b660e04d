using System.Buffers;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Metadata;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// A request body record: minimal APIs bind it with <see cref="RequestBody.ReadAsync{T}"/> (no
/// <c>[FromBody]</c>, no per-endpoint code), and the OpenAPI document describes the record itself.
/// </summary>
public interface IRequestBody<TSelf> : IBindableFromHttpContext<TSelf>, IEndpointParameterMetadataProvider
    where TSelf : class, IRequestBody<TSelf>
{
    /// <summary>Whether an empty body reads as <c>{}</c> (a record whose every field is optional, e.g. a roll's).</summary>
    static virtual bool EmptyIsNoFields => false;

    static async ValueTask<TSelf?> IBindableFromHttpContext<TSelf>.BindAsync(HttpContext context, ParameterInfo parameter) =>
        await RequestBody.ReadAsync<TSelf>(context, TSelf.EmptyIsNoFields).ConfigureAwait(false);

    static void IEndpointParameterMetadataProvider.PopulateMetadata(ParameterInfo parameter, EndpointBuilder builder) =>
        builder.Metadata.Add(new OpenApi.JsonBodyMetadata(typeof(TSelf), Required: !TSelf.EmptyIsNoFields));
}

/// <summary>
/// Reads a request body into its record, before the handler runs (so before any database work):
/// over <see cref="MaxBytes"/> 413; empty, not UTF-8, not JSON or not an object 400; then every field
/// that is of the wrong type, missing, or breaks its record's rules is named at once in one 400
/// (<c>errors: { field: [messages] }</c>). Unknown properties are ignored. Every string is checked for
/// NUL, control characters and lone surrogates, whatever its rules.
/// </summary>
internal static class RequestBody
{
    public const int MaxBytes = 64 * 1024;

    public static async ValueTask<T> ReadAsync<T>(HttpContext context, bool emptyIsNoFields = false)
        where T : class
    {
        var request = context.Request;
        if (request.ContentLength > MaxBytes)
        {
            throw new PayloadTooLargeError(MaxBytes);
        }

        // Read at most one byte over the limit: enough to know it is over, never more.
        var buffer = ArrayPool<byte>.Shared.Rent(MaxBytes + 1);
        try
        {
            var length = 0;
            int read;
            while ((read = await request.Body.ReadAsync(buffer.AsMemory(length, MaxBytes + 1 - length), context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                length += read;
                if (length > MaxBytes)
                {
                    throw new PayloadTooLargeError(MaxBytes);
                }
            }

            // The request's services only if a rule asks for them: most bodies need no scope at all.
            return Read<T>(length == 0 && emptyIsNoFields ? "{}"u8 : buffer.AsSpan(0, length), new RequestServices(context));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The body's record, checked; <paramref name="services"/> give the rules their clock.</summary>
    internal static T Read<T>(ReadOnlySpan<byte> utf8, IServiceProvider? services)
        where T : class
    {
        if (utf8.IsEmpty)
        {
            throw new BadRequestError("The request body is empty; a JSON object is required.");
        }

        // JSON is UTF-8 (RFC 8259). The parser checks strings only when they are read, so a bad byte
        // in a property nobody reads would otherwise pass.
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            throw new BadRequestError("The request body is not valid UTF-8.");
        }

        var shape = Shape<T>.Instance;
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(utf8, shape.TypeInfo);
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
        {
            // The fast path failed: find every reason, field by field. The parser's own message is never
            // shown: it can quote the body, which may hold a token.
            throw shape.Diagnose(utf8, services);
        }

        if (value is null)
        {
            throw new BadRequestError("The request body must be a JSON object, not null.");
        }

        var errors = shape.Check(value, services);
        return errors is null ? value : throw new ValidationError(errors);
    }

    /// <summary>A record type's properties as JSON sees them, with their rules: found once per type.</summary>
    private sealed class Shape<T>
        where T : class
    {
        public static readonly Shape<T> Instance = new();

        private readonly Field[] _fields;

        private Shape()
        {
            TypeInfo = (JsonTypeInfo<T>)RequestJsonContext.Default.Options.GetTypeInfo(typeof(T));
            // The generated metadata names each property's member: its attributes are the rules.
            _fields = [.. TypeInfo.Properties.Select(property => new Field(property,
                [.. (property.AttributeProvider ?? throw new InvalidOperationException($"{typeof(T).Name}.{property.Name} has no attribute provider"))
                    .GetCustomAttributes(typeof(ValidationAttribute), inherit: true).Cast<ValidationAttribute>()]))];
        }

        public JsonTypeInfo<T> TypeInfo { get; }

        public Dictionary<string, string[]>? Check(T value, IServiceProvider? services)
        {
            Dictionary<string, string[]>? errors = null;
            foreach (var field in _fields)
            {
                var fieldValue = field.Property.Get!(value);
                if (fieldValue is IOptional optional)
                {
                    if (!optional.IsSet)
                    {
                        continue;
                    }

                    fieldValue = optional.BoxedValue;
                }

                field.Check(fieldValue, value, services, ref errors);
            }

            return errors;
        }

        /// <summary>Why the body did not read: not JSON, not an object, or these fields (each read on its own, then checked).</summary>
        public Exception Diagnose(ReadOnlySpan<byte> utf8, IServiceProvider? services)
        {
            JsonDocument document;
            try
            {
                var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = RequestJsonContext.MaxDepth });
                document = JsonDocument.ParseValue(ref reader);
                if (reader.Read())
                {
                    document.Dispose();
                    return new BadRequestError("The request body is not valid JSON (more than one value).");
                }
            }
            catch (JsonException error)
            {
                return new BadRequestError(string.Create(CultureInfo.InvariantCulture,
                    $"The request body is not valid JSON (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1})."));
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return new BadRequestError($"The request body must be a JSON object, not {Describe(root.ValueKind)}.");
                }

                Dictionary<string, string[]>? errors = null;
                foreach (var field in _fields)
                {
                    if (!root.TryGetProperty(field.Property.Name, out var element))
                    {
                        if (field.Property.IsRequired)
                        {
                            Add(ref errors, field.Property.Name, "is required");
                        }

                        continue;
                    }

                    if (field.Read(element, out var fieldValue) is { } problem)
                    {
                        Add(ref errors, field.Property.Name, problem);
                        continue;
                    }

                    field.Check(fieldValue, null, services, ref errors);
                }

                return errors is null
                    ? new BadRequestError("The request body could not be read.")
                    : new ValidationError(errors);
            }
        }
    }

    private sealed class Field(JsonPropertyInfo property, ValidationAttribute[] rules)
    {
        private readonly Type _valueType = property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(Optional<>)
            ? property.PropertyType.GetGenericArguments()[0]
            : property.PropertyType;

        private readonly bool _nullable = property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(Optional<>)
            ? !rules.OfType<NonNullAttribute>().Any()
            : property.IsSetNullable;

        public JsonPropertyInfo Property { get; } = property;

        /// <summary>Reads this field's JSON on its own; null when it reads, else what is wrong with it.</summary>
        public string? Read(JsonElement element, out object? value)
        {
            value = null;
            if (element.ValueKind == JsonValueKind.Null)
            {
                return _nullable ? null : "must not be null";
            }

            try
            {
                value = element.Deserialize(RequestJsonContext.Default.Options.GetTypeInfo(_valueType));
                return null;
            }
            catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
            {
                return Expected(element);
            }
        }

        private string Expected(JsonElement element)
        {
            var type = Nullable.GetUnderlyingType(_valueType) ?? _valueType;
            if (type == typeof(string))
            {
                return element.ValueKind == JsonValueKind.String ? "must be valid Unicode (no lone surrogate escapes)" : $"must be a string, not {Describe(element.ValueKind)}";
            }

            if (type == typeof(DateTimeOffset))
            {
                return "must be an RFC 3339 timestamp with an offset, e.g. 2030-01-01T00:00:00Z";
            }

            if (typeof(IEnumerable<string>).IsAssignableFrom(type))
            {
                if (element.ValueKind != JsonValueKind.Array)
                {
                    return $"must be an array of strings, not {Describe(element.ValueKind)}";
                }

                var problems = element.EnumerateArray()
                    .Select((item, index) => item.ValueKind == JsonValueKind.String ? null : $"[{index}] must be a string, not {Describe(item.ValueKind)}")
                    .OfType<string>();
                return string.Join("\n", problems) is { Length: > 0 } joined ? joined : "must be an array of valid strings";
            }

            if (type == typeof(bool))
            {
                return $"must be true or false, not {Describe(element.ValueKind)}";
            }

            if (type == typeof(int) || type == typeof(long))
            {
                return element.ValueKind == JsonValueKind.Number ? "must be a whole number in range" : $"must be a whole number, not {Describe(element.ValueKind)}";
            }

            // A nested record describes its own shape ([Description] on the type), also as an array's items.
            var itemType = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? type.GetGenericArguments()[0] : null;
            var shape = System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.ComponentModel.DescriptionAttribute>(itemType ?? type)?.Description;
            return shape is null ? $"must be {type.Name}, not {Describe(element.ValueKind)}"
                : itemType is null ? $"must be {shape} or null"
                : $"must be an array of {shape}, or null";
        }

        public void Check(object? value, object? instance, IServiceProvider? services, ref Dictionary<string, string[]>? errors)
        {
            switch (value)
            {
                case null:
                    if (!_nullable)
                    {
                        Add(ref errors, Property.Name, "must not be null");
                    }

                    return;
                case string text when !Text.IsStorable(text):
                    Add(ref errors, Property.Name, Text.NotStorable);
                    return;
                case IEnumerable<string> items when items.Any(item => item is null || !Text.IsStorable(item)):
                    Add(ref errors, Property.Name, "must hold valid text without control characters, and no null");
                    return;
            }

            if (rules.Length == 0)
            {
                return;
            }

            var context = new ValidationContext(instance ?? value, services, items: null) { MemberName = Property.Name };
            foreach (var rule in rules)
            {
                if (rule.GetValidationResult(value, context) is { ErrorMessage: { } message })
                {
                    foreach (var line in message.Split('\n'))
                    {
                        Add(ref errors, Property.Name, line);
                    }

                    return;
                }
            }
        }
    }

    /// <summary>The request's services, resolved (and the request's scope created) only when asked.</summary>
    private sealed class RequestServices(HttpContext context) : IServiceProvider
    {
        public object? GetService(Type serviceType) => context.RequestServices.GetService(serviceType);
    }

    private static void Add(ref Dictionary<string, string[]>? errors, string field, string message)
    {
        errors ??= new Dictionary<string, string[]>(StringComparer.Ordinal);
        errors[field] = errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
