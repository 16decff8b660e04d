using System.Text.RegularExpressions;
using UserKeys.Data.Sql;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

public sealed partial class SqlCatalogTests
{
    private static readonly string QueriesFolder = RepositoryFiles.Path("sql", "queries");

    [Fact]
    public void Every_query_file_has_a_catalog_entry_and_every_entry_has_a_file()
    {
        var onDisk = Directory.EnumerateFiles(QueriesFolder, "*.sql", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(QueriesFolder, path).Replace('\\', '/')[..^".sql".Length])
            .Order(StringComparer.Ordinal)
            .ToList();
        var embedded = SqlCatalog.EmbeddedNames();
        var entries = SqlCatalog.All.Select(statement => statement.Name).ToList();

        Assert.Equal(onDisk, embedded);
        Assert.Equal(onDisk, entries);
    }

    [Fact]
    public void Every_entry_carries_the_text_of_its_file()
    {
        foreach (var statement in SqlCatalog.All)
        {
            var file = File.ReadAllText(Path.Combine(QueriesFolder, statement.Name + ".sql")).Trim();
            Assert.Equal(file, statement.Text);
        }
    }

    [Fact]
    public void Every_file_has_a_header_naming_its_purpose_parameters_and_index()
    {
        foreach (var statement in SqlCatalog.All)
        {
            var header = statement.Text.Split('\n').TakeWhile(line => line.StartsWith("--", StringComparison.Ordinal)).ToList();
            Assert.True(header.Count >= 3, $"{statement.Name}: the header comment is missing or too short");
            Assert.StartsWith($"-- {statement.Name}: ", header[0]);
            Assert.Contains(header, line => line.StartsWith("-- Parameters:", StringComparison.Ordinal));
            Assert.Contains(header, line => line.StartsWith("-- Index:", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Every_file_holds_exactly_one_statement()
    {
        foreach (var statement in SqlCatalog.All)
        {
            var code = LineComment().Replace(statement.Text, "").Trim().TrimEnd(';');
            Assert.False(string.IsNullOrWhiteSpace(code), $"{statement.Name} has no statement");
            Assert.DoesNotContain(";", code);
        }
    }

    [Fact]
    public void Parameters_are_named_never_spliced()
    {
        foreach (var statement in SqlCatalog.All)
        {
            Assert.DoesNotContain("{", statement.Text);
            Assert.DoesNotContain("$1", statement.Text);
        }
    }

    [GeneratedRegex("--[^\n]*")]
    private static partial Regex LineComment();
}
