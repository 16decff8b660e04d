using System.ComponentModel.DataAnnotations;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// The rules a request record's properties carry (checked by <see cref="RequestBody"/>, shown in the
/// OpenAPI schema where a standard attribute says the same). Each message completes "field ...".
/// </summary>
internal static class Text
{
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

    /// <summary>Trimmed; blank text is no text.</summary>
    public static string? TrimToNull(string? text) => text?.Trim() is { Length: > 0 } trimmed ? trimmed : null;

    /// <summary>PostgreSQL text holds no NUL, and Npgsql cannot encode a lone surrogate; control characters help no one.</summary>
    public static bool IsStorable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c) && c is not ('\t' or '\n' or '\r'))
            {
                return false;
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return false;
            }
        }

        return true;
    }

    public const string NotStorable = "must not contain NUL or control characters, or invalid Unicode";
}

/// <summary>
/// A string of <see cref="StringLengthAttribute.MinimumLength"/> to <see cref="StringLengthAttribute.MaximumLength"/>
/// characters counted as PostgreSQL counts them (code points), after trimming when <see cref="Trim"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class CodePointsAttribute(int maximumLength) : StringLengthAttribute(maximumLength)
{
    /// <summary>The record trims the value as it is read (so must the check of a value read on its own).</summary>
    public bool Trim { get; init; }

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not string text)
        {
            return ValidationResult.Success;
        }

        var length = Text.CountCharacters(Trim ? text.Trim() : text);
        return length > MaximumLength || (length < MinimumLength && length > 0) || (MinimumLength > 0 && length == 0)
            ? new ValidationResult(MinimumLength > 0 ? $"must be {MinimumLength} to {MaximumLength} characters" : $"must be at most {MaximumLength} characters")
            : ValidationResult.Success;
    }
}

/// <summary>An email address as the service stores it: one '@' with text on both sides, no spaces or control characters.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class EmailAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is string email && Users.UserInput.CheckEmailShape(email.Trim()) is { } problem ? new ValidationResult(problem) : ValidationResult.Success;
}

/// <summary>One of a fixed set of strings (compared exactly).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class OneOfAttribute(params string[] values) : AllowedValuesAttribute(values)
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is null || Values.Contains(value) ? ValidationResult.Success
            : new ValidationResult($"must be {string.Join(" or ", Values.Select(allowed => $"'{allowed}'"))}");
}

/// <summary>A timestamp after the request's "now" (the service's clock).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class FutureAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is DateTimeOffset timestamp
            && timestamp <= ((TimeProvider?)validationContext.GetService(typeof(TimeProvider)) ?? TimeProvider.System).GetUtcNow()
            ? new ValidationResult("must be in the future")
            : ValidationResult.Success;
}

/// <summary>A PATCH field that may be left out but, when given, not be null.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class NonNullAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) => ValidationResult.Success;
}

/// <summary>Scopes: at most twice as many as there are, each one of them.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class ScopeListAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IReadOnlyList<string> scopes)
        {
            return ValidationResult.Success;
        }

        var max = Auth.Scopes.All.Length * 2;
        if (scopes.Count > max)
        {
            return new ValidationResult($"must have at most {max} entries");
        }

        var problems = scopes
            .Select((scope, index) => Auth.Scopes.IsKnown(scope) ? null : $"[{index}] is not a scope (one of {string.Join(", ", Auth.Scopes.All)})")
            .OfType<string>()
            .ToList();
        return problems.Count == 0 ? ValidationResult.Success : new ValidationResult(string.Join("\n", problems));
    }
}

/// <summary>A whole number from <c>minimum</c> to <c>maximum</c>.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class BetweenAttribute(int minimum, int maximum) : RangeAttribute(minimum, maximum)
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is int number && (number < (int)Minimum || number > (int)Maximum)
            ? new ValidationResult($"must be from {Minimum} to {Maximum}")
            : ValidationResult.Success;
}

/// <summary>
/// A key's permissions (../shared/API.md, "Key"): at most <see cref="MaxCount"/> entries, each 1 to
/// <see cref="MaxLength"/> characters of <c>A-Z a-z 0-9 . _ : * -</c>. Opaque to this API.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class PermissionListAttribute : ValidationAttribute
{
    public const int MaxCount = 50;
    public const int MaxLength = 100;

    public static bool IsPermission(string permission) =>
        permission.Length is > 0 and <= MaxLength && permission.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '*' or '-');

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IReadOnlyList<string> permissions)
        {
            return ValidationResult.Success;
        }

        if (permissions.Count > MaxCount)
        {
            return new ValidationResult($"must have at most {MaxCount} entries");
        }

        var problems = permissions
            .Select((permission, index) => IsPermission(permission) ? null : $"[{index}] must be 1 to {MaxLength} characters of A-Z a-z 0-9 . _ : * -")
            .OfType<string>()
            .ToList();
        return problems.Count == 0 ? ValidationResult.Success : new ValidationResult(string.Join("\n", problems));
    }

    /// <summary>Each permission once, in the order given.</summary>
    public static string[] Normalize(IEnumerable<string> permissions) => permissions.Distinct(StringComparer.Ordinal).ToArray();
}

/// <summary>
/// A key's <c>meta</c>: a JSON object of at most <see cref="MaxBytes"/> bytes as serialized compactly (UTF-8), holding
/// text PostgreSQL's jsonb can store (no NUL, no lone surrogate), or null.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class MetaObjectAttribute : ValidationAttribute
{
    public const int MaxBytes = 4096;

    /// <summary>The compact UTF-8 text of <paramref name="meta"/> (what the database stores).</summary>
    public static string Serialize(System.Text.Json.JsonElement meta)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            meta.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not System.Text.Json.JsonElement meta || meta.ValueKind == System.Text.Json.JsonValueKind.Null)
        {
            return ValidationResult.Success;
        }

        if (meta.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            return new ValidationResult("must be a JSON object or null");
        }

        if (!IsStorable(meta))
        {
            return new ValidationResult("must not contain NUL characters or invalid Unicode");
        }

        var size = System.Text.Encoding.UTF8.GetByteCount(Serialize(meta));
        return size > MaxBytes
            ? new ValidationResult($"must be at most {MaxBytes} bytes serialized ({size} given)")
            : ValidationResult.Success;
    }

    private static bool IsStorable(System.Text.Json.JsonElement element)
    {
        switch (element.ValueKind)
        {
            case System.Text.Json.JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!IsStorableText(property.Name) || !IsStorable(property.Value))
                    {
                        return false;
                    }
                }

                return true;
            case System.Text.Json.JsonValueKind.Array:
                return element.EnumerateArray().All(IsStorable);
            case System.Text.Json.JsonValueKind.String:
                try
                {
                    return IsStorableText(element.GetString()!);
                }
                catch (InvalidOperationException)
                {
                    return false;
                }

            default:
                return true;
        }
    }

    private static bool IsStorableText(string text) => !text.Contains('\0', StringComparison.Ordinal) && !HasLoneSurrogate(text);

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
}

/// <summary>A count of credits: a whole number from 0 to 2^53 (the largest every JSON reader holds exactly), or null.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class UnitsAttribute : ValidationAttribute
{
    public const long Max = 9_007_199_254_740_992;

    public static bool IsUnits(long value) => value is >= 0 and <= Max;

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is long units && !IsUnits(units) ? new ValidationResult($"must be from 0 to {Max}") : ValidationResult.Success;
}

/// <summary>A key's refill: <c>{"interval": "daily" | "monthly", "amount": 0..2^53}</c>, or null.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class RefillRuleAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not Keys.Refill refill)
        {
            return ValidationResult.Success;
        }

        var problems = new List<string>();
        if (refill.Interval is not (Keys.Refill.Daily or Keys.Refill.Monthly))
        {
            problems.Add("interval must be 'daily' or 'monthly'");
        }

        if (!UnitsAttribute.IsUnits(refill.Amount))
        {
            problems.Add($"amount must be from 0 to {UnitsAttribute.Max}");
        }

        return problems.Count == 0 ? ValidationResult.Success : new ValidationResult(string.Join("\n", problems));
    }
}

/// <summary>
/// A key's rate limits: at most <see cref="MaxCount"/>, names unique, each name 1 to 100 characters of
/// <c>A-Z a-z 0-9 . _ : -</c>, <c>limit</c> 1..1,000,000, <c>duration_ms</c> 1,000..86,400,000.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
internal sealed class RateLimitListAttribute : ValidationAttribute
{
    public const int MaxCount = 5;
    public const long MaxLimit = 1_000_000;
    public const long MinDurationMs = 1_000;
    public const long MaxDurationMs = 86_400_000;

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not IReadOnlyList<Data.Keys.RateLimitRule> rules)
        {
            return ValidationResult.Success;
        }

        var problems = new List<string>();
        if (rules.Count > MaxCount)
        {
            problems.Add($"must have at most {MaxCount} entries");
        }

        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule is null)
            {
                problems.Add($"[{i}] must be an object");
                continue;
            }

            if (rule.Name is not { Length: > 0 and <= 100 } name || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                problems.Add($"[{i}].name must be 1 to 100 characters of A-Z a-z 0-9 . _ : -");
            }
            else if (rules.Take(i).Any(other => other?.Name == rule.Name))
            {
                problems.Add($"[{i}].name '{rule.Name}' is used twice (names are unique per key)");
            }

            if (rule.Limit is < 1 or > MaxLimit)
            {
                problems.Add($"[{i}].limit must be from 1 to {MaxLimit}");
            }

            if (rule.DurationMs is < MinDurationMs or > MaxDurationMs)
            {
                problems.Add($"[{i}].duration_ms must be from {MinDurationMs} to {MaxDurationMs}");
            }
        }

        return problems.Count == 0 ? ValidationResult.Success : new ValidationResult(string.Join("\n", problems));
    }
}
