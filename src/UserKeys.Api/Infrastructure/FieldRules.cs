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
