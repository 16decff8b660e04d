using System.Collections.Concurrent;

namespace UserKeys.Testing;

/// <summary>
/// The SQL the tests run on their own (database administration and assertions on rows), kept in
/// <c>tests/UserKeys.Testing/sql/*.sql</c> like the service's statements are kept in <c>sql/queries</c>.
/// Identifiers in braces are replaced by quoted names the tests generate; values are always parameters.
/// </summary>
public static class TestSql
{
    private static readonly ConcurrentDictionary<string, string> Cache = new(StringComparer.Ordinal);

    /// <summary>The text of <c>sql/NAME.sql</c>.</summary>
    public static string Get(string name) =>
        Cache.GetOrAdd(name, key =>
        {
            using var stream = typeof(TestSql).Assembly.GetManifestResourceStream($"testsql/{key}.sql")
                ?? throw new InvalidOperationException($"test SQL file tests/UserKeys.Testing/sql/{key}.sql does not exist");
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        });

    /// <summary><see cref="Get"/> with <c>{placeholder}</c>s replaced by quoted identifiers.</summary>
    public static string WithIdentifiers(string name, params (string Placeholder, string Identifier)[] identifiers)
    {
        var text = Get(name);
        foreach (var (placeholder, identifier) in identifiers)
        {
            text = text.Replace($"{{{placeholder}}}", QuoteIdentifier(identifier), StringComparison.Ordinal);
        }

        return text;
    }

    public static string QuoteIdentifier(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
