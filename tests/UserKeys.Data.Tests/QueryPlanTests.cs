using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using UserKeys.Data.Sql;
using UserKeys.Testing;
using Xunit.Abstractions;

namespace UserKeys.Data.Tests;

/// <summary>
/// Every statement in sql/queries, planned by PostgreSQL on 200,000 users, 400,000 keys and 600,000 audit events with
/// representative parameters: none may scan users or api_keys sequentially unless its header says
/// why ("-- Seq scan allowed: ..."). Writes artifacts/query-plans.md for a reviewer.
/// </summary>
public sealed partial class QueryPlanTests(PlanDatabase planData, ITestOutputHelper output) : IClassFixture<PlanDatabase>
{
    private static readonly string[] Tables = ["users", "api_keys", "audit_events"];

    [Fact]
    public async Task No_statement_scans_a_big_table_sequentially_unless_its_header_allows_it()
    {
        await using var connection = await planData.Database.DataSource.OpenConnectionAsync();
        var sample = planData.Sample;
        var parameters = Representative(sample);

        var rows = new List<string>();
        var violations = new List<string>();
        foreach (var statement in SqlCatalog.All)
        {
            var header = statement.Text.Split('\n').TakeWhile(line => line.StartsWith("--", StringComparison.Ordinal)).ToList();
            if (header.Any(line => line.StartsWith("-- Plan: none", StringComparison.Ordinal)))
            {
                rows.Add($"| `{statement.Name}` | not planned (utility statement) | | |");
                continue;
            }

            var arguments = new DynamicParameters();
            foreach (var name in Parameter().Matches(statement.Text).Select(match => match.Groups[1].Value).Distinct())
            {
                Assert.True(parameters.ContainsKey(name), $"{statement.Name}: no representative value for @{name}");
                arguments.Add(name, parameters[name]);
            }

            var body = string.Join('\n', statement.Text.Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal)));
            var explain = TestSql.Get("explain").Replace("{statement}", body, StringComparison.Ordinal);
            var json = await connection.QuerySingleAsync<string>(explain, arguments);
            using var document = JsonDocument.Parse(json);
            var plan = document.RootElement[0].GetProperty("Plan");
            var nodes = Walk(plan).ToList();
            var indexes = nodes.Select(node => node.TryGetProperty("Index Name", out var index) ? index.GetString() : null).OfType<string>().Distinct().ToList();
            var seqScans = nodes.Where(node => node.GetProperty("Node Type").GetString() == "Seq Scan"
                    && Tables.Contains(node.GetProperty("Relation Name").GetString()))
                .Select(node => node.GetProperty("Relation Name").GetString()).ToList();
            var allowed = header.Any(line => line.StartsWith("-- Seq scan allowed:", StringComparison.Ordinal));
            if (seqScans.Count > 0 && !allowed)
            {
                violations.Add($"{statement.Name}: Seq Scan on {string.Join(", ", seqScans)} ({Shape(plan)})");
            }

            var cost = plan.GetProperty("Total Cost").GetDouble().ToString("0.00", CultureInfo.InvariantCulture);
            rows.Add($"| `{statement.Name}` | {Shape(plan)}{(seqScans.Count > 0 ? " (seq scan allowed by its header)" : "")} | {string.Join(", ", indexes.Select(index => $"`{index}`"))} | {cost} |");
        }

        var summary = new StringBuilder()
            .AppendLine("# Query plans")
            .AppendLine()
            .AppendLine($"Every statement of `sql/queries` as PostgreSQL plans it on 200,000 users, 400,000 keys and 600,000 audit events, with representative")
            .AppendLine($"parameters (`QueryPlanTests`, {DateTime.UtcNow:yyyy-MM-dd}). Plan shape: the nodes from the top down.")
            .AppendLine()
            .AppendLine("| statement | plan shape | index used | estimated cost |")
            .AppendLine("| --- | --- | --- | ---: |");
        rows.ForEach(row => summary.AppendLine(row));
        var path = RepositoryFiles.Path("artifacts", "query-plans.md");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, summary.ToString());
        output.WriteLine($"{SqlCatalog.All.Count} statements planned; summary in {path}");

        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    /// <summary>
    /// PostgreSQL plans a prepared statement afresh on each call (a "custom plan") until a generic plan costs
    /// about what the custom ones did. With <c>LIMIT @limit</c> alone a generic plan guesses a tenth of the
    /// table and never wins, so every page paid for planning again (about 30% of the statement's time). The
    /// pages that would guess so cap their inner scan at the largest page plus one: after PostgreSQL's five
    /// custom plans, the rest must run on the generic one. (The pages of one user's keys or events need no cap:
    /// their generic plan expects a few rows already.)
    /// </summary>
    [Theory]
    [InlineData("users/list_first_page")]
    [InlineData("users/list_page_after")]
    [InlineData("users/list_first_page_with_keys")]
    [InlineData("users/list_page_after_with_keys")]
    [InlineData("keys/list_by_user_first_page")]
    [InlineData("keys/list_by_user_after")]
    [InlineData("audit/list_all")]
    [InlineData("audit/list_by_action")]
    [InlineData("audit/list_by_key")]
    [InlineData("audit/list_by_user")]
    public async Task Keyset_pages_run_on_one_generic_plan_instead_of_planning_every_call(string name)
    {
        var statement = SqlCatalog.All.Single(candidate => candidate.Name == name);
        await using var connection = await planData.Database.DataSource.OpenConnectionAsync();
        connection.UnprepareAll();
        await using var command = connection.CreateCommand();
        command.CommandText = statement.Text;
        var values = Representative(planData.Sample);
        foreach (var parameter in Parameter().Matches(statement.Text).Select(match => match.Groups[1].Value).Distinct())
        {
            command.Parameters.AddWithValue(parameter, values[parameter]!);
        }

        await command.PrepareAsync();
        for (var call = 0; call < 10; call++)
        {
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
            }
        }

        var plans = (await connection.QueryAsync<(long Generic, long Custom)>(TestSql.Get("prepared_statement_plans"))).Single();
        output.WriteLine($"{name}: {plans.Generic} generic, {plans.Custom} custom plans in 10 calls");
        Assert.True(plans.Generic >= 5, $"{name}: {plans.Custom} of 10 calls planned afresh, {plans.Generic} on the generic plan");
    }

    /// <summary>A value for every parameter a catalog statement takes, around <paramref name="sample"/>.</summary>
    private static Dictionary<string, object?> Representative((long Id, string Email, DateTime CreatedAt, byte[] TokenHash) sample) =>
        new()
        {
            ["id"] = sample.Id, ["user_id"] = sample.Id, ["after_id"] = sample.Id, ["after_created_at"] = sample.CreatedAt,
            ["email"] = sample.Email, ["token_hash"] = sample.TokenHash, ["limit"] = 51, ["offset"] = 1000,
            ["user_ids"] = Enumerable.Range(0, 50).Select(i => sample.Id + i).ToArray(), ["name"] = "cursor_hmac_key", ["role"] = "member",
            ["set_name"] = true, ["prefix"] = "uk_plan", ["expires_at"] = (DateTime?)null, ["payload"] = "key:1", ["key"] = 1L,
            ["sha256"] = new byte[32], ["max_keys"] = 100, ["scopes"] = new[] { "users:read" },
            ["enabled"] = true, ["permissions"] = new[] { "billing.read" }, ["meta"] = "{\"plan\":\"pro\"}", ["rolled_from_id"] = (long?)null,
            ["set_meta"] = false, ["set_expires_at"] = false, ["grace_seconds"] = 60, ["key_id"] = sample.Id, ["action"] = "key.created",
            ["before_id"] = long.MaxValue, ["cutoff"] = DateTime.UtcNow.AddDays(-365), ["batch_size"] = 1000,
            ["need"] = 1L, ["want"] = 64L, ["units"] = 3L, ["epoch"] = 0, ["remaining"] = 100L, ["refill_interval"] = "daily",
            ["refill_amount"] = 100L, ["refilled_at"] = (DateTime?)null, ["set_remaining"] = false, ["set_refill"] = false,
            ["rate_limits"] = "[]", ["duration_ms"] = 60_000L, ["before"] = DateTime.UtcNow.AddMinutes(-1),
            ["key_ids"] = new[] { sample.Id }, ["hours"] = new[] { DateTime.UtcNow.Date }, ["valid"] = new[] { 1L }, ["revoked"] = new[] { 0L },
            ["expired"] = new[] { 0L }, ["disabled"] = new[] { 0L }, ["insufficient_permissions"] = new[] { 0L }, ["rate_limited"] = new[] { 0L },
            ["usage_exceeded"] = new[] { 0L }, ["ids"] = Enumerable.Range(0, 1000).Select(i => sample.Id + i).ToArray(),
            ["used_at"] = Enumerable.Repeat(DateTime.UtcNow, 1000).ToArray(), ["from"] = DateTime.UtcNow.Date.AddDays(-1), ["to"] = DateTime.UtcNow.Date,
            ["holder"] = false, ["budget_key_id"] = (long?)null, ["derived_from_id"] = (long?)null, ["operation_id"] = Guid.Empty, ["trace_id"] = "", ["disabled_by_admin"] = false,
        };

    private static IEnumerable<JsonElement> Walk(JsonElement node)
    {
        yield return node;
        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray().SelectMany(Walk))
            {
                yield return child;
            }
        }
    }

    private static string Shape(JsonElement node)
    {
        var type = node.GetProperty("Node Type").GetString();
        var on = node.TryGetProperty("Relation Name", out var relation) ? $" on {relation.GetString()}" : "";
        var children = node.TryGetProperty("Plans", out var plans) ? plans.EnumerateArray().Select(Shape).ToList() : [];
        return children.Count switch
        {
            0 => type + on,
            1 => $"{type}{on} > {children[0]}",
            _ => $"{type}{on} > ({string.Join("; ", children)})",
        };
    }

    [GeneratedRegex(@"@([a-z_][a-z0-9_]*)")]
    private static partial Regex Parameter();
}

/// <summary>One migrated database with 200,000 users, 400,000 keys and 600,000 audit events, analysed, for the plan tests.</summary>
public sealed class PlanDatabase : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;

    public (long Id, string Email, DateTime CreatedAt, byte[] TokenHash) Sample { get; private set; }

    public async Task InitializeAsync()
    {
        Database = await PostgresServer.CreateMigratedDatabaseAsync();
        await using var connection = await Database.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(new CommandDefinition(TestSql.Get("seed_plan_data"), commandTimeout: 300));
        await connection.ExecuteAsync(new CommandDefinition(TestSql.Get("vacuum_analyze"), commandTimeout: 300));
        Sample = await connection.QuerySingleAsync<(long Id, string Email, DateTime CreatedAt, byte[] TokenHash)>(TestSql.Get("plan_sample_user"));
    }

    public async Task DisposeAsync() => await Database.DisposeAsync();
}
