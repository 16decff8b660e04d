using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace UserKeys.Api.Infrastructure;

/// <summary>Reads a listing's query string: each parameter at most once, numbers in range or a 400 naming them.</summary>
internal sealed class QueryStrings(IQueryCollection query)
{
    public Dictionary<string, string[]> Errors { get; } = new(StringComparer.Ordinal);

    /// <summary>The parameter's one value, or null when absent (an error when given twice).</summary>
    public string? Single(string name)
    {
        if (!query.TryGetValue(name, out StringValues values))
        {
            return null;
        }

        if (values.Count != 1)
        {
            Errors[name] = ["must be given once"];
            return null;
        }

        return values[0];
    }

    /// <summary><c>limit</c>: 1 to <paramref name="max"/>, <paramref name="fallback"/> when absent.</summary>
    public int Limit(string? text, int fallback, int max)
    {
        if (text is null)
        {
            return fallback;
        }

        if (TryParseInRange(text, 1, max, out var limit))
        {
            return limit;
        }

        Errors["limit"] = [$"must be a whole number from 1 to {max}"];
        return fallback;
    }

    /// <summary>An id filter (<c>user_id</c>, <c>key_id</c>): a positive whole number, or null when absent.</summary>
    public long? Id(string name)
    {
        if (Single(name) is not { } text)
        {
            return null;
        }

        if (text.Length is > 0 and <= 19 && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
        {
            return id;
        }

        Errors[name] = ["must be an id (a positive whole number)"];
        return null;
    }

    /// <summary>One of <paramref name="allowed"/>, or null when absent.</summary>
    public string? OneOf(string name, IReadOnlyList<string> allowed)
    {
        var text = Single(name);
        if (text is null || allowed.Contains(text, StringComparer.Ordinal))
        {
            return text;
        }

        Errors[name] = [$"must be one of {string.Join(", ", allowed)}"];
        return null;
    }

    /// <summary><c>after</c>: a cursor is never empty (its signature is checked where it is decoded).</summary>
    public void CheckCursor(string? after)
    {
        if (after is { Length: 0 })
        {
            Errors["after"] = ["must be a next_cursor returned by the previous page"];
        }
    }

    public void ThrowIfInvalid()
    {
        if (Errors.Count > 0)
        {
            throw new ValidationError(Errors);
        }
    }

    public static bool TryParseInRange(string text, int min, int max, out int value)
    {
        value = 0;
        return text.Length is > 0 and <= 10
            && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)
            && parsed >= min && parsed <= max
            && (value = (int)parsed) == parsed;
    }
}
