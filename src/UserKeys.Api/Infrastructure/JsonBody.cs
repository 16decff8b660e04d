using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// A request body read as a JSON object, field by field, collecting one message per bad field so
/// that the caller learns everything wrong at once. Unknown properties are ignored. Bodies over
/// <see cref="MaxBytes"/> get 413, bodies that are not a JSON object 400.
/// </summary>
internal sealed class JsonBody
{
    public const int MaxBytes = 64 * 1024;

    private readonly JsonElement _root;
    private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

    private JsonBody(JsonElement root) => _root = root;

    /// <summary>Minimal API binding: the body is read before the endpoint's filters, so before any database work.</summary>
    public static async ValueTask<JsonBody?> BindAsync(HttpContext context) =>
        await ReadAsync(context.Request, context.RequestAborted).ConfigureAwait(false);

    public static async Task<JsonBody> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
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
            while ((read = await request.Body.ReadAsync(buffer.AsMemory(length, MaxBytes + 1 - length), cancellationToken).ConfigureAwait(false)) > 0)
            {
                length += read;
                if (length > MaxBytes)
                {
                    throw new PayloadTooLargeError(MaxBytes);
                }
            }

            if (length == 0)
            {
                throw new BadRequestError("The request body is empty; a JSON object is required.");
            }

            // JSON is UTF-8 (RFC 8259). The parser checks strings only when they are read, so a bad byte
            // in a property nobody reads would otherwise pass.
            if (!System.Text.Unicode.Utf8.IsValid(buffer.AsSpan(0, length)))
            {
                throw new BadRequestError("The request body is not valid UTF-8.");
            }

            using var document = Parse(buffer.AsMemory(0, length));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new BadRequestError($"The request body must be a JSON object, not {Describe(document.RootElement.ValueKind)}.");
            }

            return new JsonBody(document.RootElement.Clone());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static JsonDocument Parse(ReadOnlyMemory<byte> utf8)
    {
        try
        {
            return JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException error)
        {
            // Position only: the parser's own message can quote the body, which may hold a token.
            throw new BadRequestError(string.Create(CultureInfo.InvariantCulture,
                $"The request body is not valid JSON (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1})."));
        }
    }

    public bool Has(string field) => _root.TryGetProperty(field, out _);

    /// <summary>A string field: trimmed when <paramref name="trim"/>, null when absent or null (an error when <paramref name="required"/>).</summary>
    public string? String(string field, bool required = false, int maxLength = int.MaxValue, bool trim = false)
    {
        if (!_root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                AddError(field, value.ValueKind == JsonValueKind.Null ? "must not be null" : "is required");
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            AddError(field, $"must be a string, not {Describe(value.ValueKind)}");
            return null;
        }

        if (!TryGetString(value, out var text))
        {
            AddError(field, "must be valid Unicode (no lone surrogate escapes)");
            return null;
        }

        if (trim)
        {
            text = text.Trim();
        }

        if (!IsStorableText(text))
        {
            AddError(field, "must not contain NUL or control characters, or invalid Unicode");
            return null;
        }

        if (CountCharacters(text) > maxLength)
        {
            AddError(field, $"must be at most {maxLength} characters");
            return null;
        }

        return text;
    }

    /// <summary>
    /// An array of strings, each checked by <paramref name="check"/> (null: fine, else what is wrong);
    /// null when absent. Every bad element is reported, by index.
    /// </summary>
    public IReadOnlyList<string>? StringArray(string field, int maxCount, Func<string, string?> check)
    {
        if (!_root.TryGetProperty(field, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            AddError(field, $"must be an array of strings, not {Describe(value.ValueKind)}");
            return null;
        }

        if (value.GetArrayLength() > maxCount)
        {
            AddError(field, $"must have at most {maxCount} entries");
            return null;
        }

        var items = new List<string>();
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            var problem = item.ValueKind != JsonValueKind.String ? $"must be a string, not {Describe(item.ValueKind)}"
                : !TryGetString(item, out var text) || !IsStorableText(text) ? "must be valid text without control characters"
                : check(text);
            if (problem is null)
            {
                items.Add(item.GetString()!);
            }
            else
            {
                AddError(field, $"[{index}] {problem}");
            }

            index++;
        }

        return HasErrors(field) ? null : items;
    }

    /// <summary>An RFC 3339 timestamp with an explicit offset, as UTC; null when absent or null.</summary>
    public DateTime? Timestamp(string field)
    {
        if (!_root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String
            && TryGetString(value, out var text)
            && DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"],
                CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return parsed.UtcDateTime;
        }

        AddError(field, "must be an RFC 3339 timestamp with an offset, e.g. 2030-01-01T00:00:00Z");
        return null;
    }

    /// <summary>A JSON string as .NET text; false for escapes that make no valid UTF-16 (a lone <c>\ud800</c>).</summary>
    private static bool TryGetString(JsonElement value, out string text)
    {
        try
        {
            text = value.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    public void AddError(string field, string message) =>
        _errors[field] = _errors.TryGetValue(field, out var existing) ? [.. existing, message] : [message];

    public bool HasErrors(string field) => _errors.ContainsKey(field);

    /// <exception cref="ValidationError">Any field was invalid.</exception>
    public void ThrowIfInvalid()
    {
        if (_errors.Count > 0)
        {
            throw new ValidationError(_errors);
        }
    }

    /// <summary>Length as PostgreSQL's char_length counts it: Unicode scalar values, not UTF-16 units.</summary>
    public static int CountCharacters(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    /// <summary>PostgreSQL text holds no NUL, and Npgsql cannot encode a lone surrogate; control characters help no one.</summary>
    public static bool IsStorableText(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c) && c is not ('\t' or '\n' or '\r'))
            {
                return false;
            }
        }

        return !HasLoneSurrogate(text);
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
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
