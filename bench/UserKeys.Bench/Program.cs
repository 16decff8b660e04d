using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Api.Users;
using UserKeys.Data;
using UserKeys.Data.Sql;
using UserKeys.Data.Users;

// bench cache-memory: UserKeys.Bench cache-memory [distinct keys] [AuthCacheMaxEntries]
// Looks up that many distinct keys through the auth cache (as a flood of valid tokens would) and prints
// the managed heap before and after, with the entries the cache kept.
if (args.Length > 0 && args[0] == "cache-memory")
{
    var distinct = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
    var maxEntries = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : new ServiceOptions().AuthCacheMaxEntries;
    var cacheOptions = Microsoft.Extensions.Options.Options.Create(new ServiceOptions { AuthCacheMaxEntries = maxEntries });
    using var cache = new AuthCache(TimeProvider.System, cacheOptions);
    cache.SetListening(true);
    var before = GC.GetTotalMemory(forceFullCollection: true);
    var timer = Stopwatch.StartNew();
    var now = DateTime.UtcNow;
    for (var i = 1; i <= distinct; i++)
    {
        if (i % 10_000 == 1)
        {
            cache.Heard(DateTimeOffset.UtcNow);
        }

        var issued = ApiToken.Generate();
        if (!cache.TryGet(issued.Hash, out _))
        {
            cache.Add(issued.Hash, new UserKeys.Data.Keys.ApiKeyWithUserRow
            {
                Id = i, UserId = i, Name = "bench", Prefix = issued.Prefix, CreatedAt = now, Scopes = Scopes.All,
                UserEmail = $"user{i}@example.com", UserRole = "member", UserCreatedAt = now,
            }, cache.Generation);
        }
    }

    // Let a compaction that is under way finish before measuring.
    for (var settle = 0; settle < 50 && cache.Count > maxEntries; settle++)
    {
        await Task.Delay(100);
    }

    var after = GC.GetTotalMemory(forceFullCollection: true);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"cache-memory: {distinct:N0} distinct keys looked up in {timer.Elapsed.TotalSeconds:0.0} s; AuthCacheMaxEntries {maxEntries:N0}; " +
        $"entries kept {cache.Count:N0}; managed heap +{(after - before) / 1048576.0:0.0} MiB ({(cache.Count == 0 ? 0 : (after - before) / cache.Count):N0} bytes an entry)"));
    GC.KeepAlive(cache);
    return 0;
}

// bench seed: UserKeys.Bench <connection string> <output folder> [users]
// Seeds users (and two keys each) by binary COPY, then writes into the output folder:
//   tokens.txt         real tokens of 1 key in 100, for the verify scenario
//   env.sh             MIN_ID, MAX_ID, DEEP_CURSOR, DEEP_OFFSET for the wrk scenarios
//   pgbench/*.sql      the pgbench scripts, rendered from bench/pgbench with the service's own statements
if (args.Length < 2)
{
    await Console.Error.WriteLineAsync("usage: UserKeys.Bench <connection string> <output folder> [users]");
    return 2;
}

var connectionString = args[0];
var output = Directory.CreateDirectory(args[1]).FullName;
var userCount = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000_000;
const int KeysPerUser = 2;
const int RealTokenEvery = 100;
var deepOffset = userCount * 9 / 10;

await using var dataSource = NpgsqlDataSource.Create(connectionString);
var clock = Stopwatch.StartNew();

// A bulk load, as a DBA would import: the audit triggers (migration 0009) are off while it runs and on again
// after, so the audit log starts empty; every scenario that writes records its events.
await using (var connection = await dataSource.OpenConnectionAsync())
{
    await connection.ExecuteAsync(Bench.Sql("audit_triggers_off"));
}

// Users: created_at one second apart per group of four (ties exercise the id tie-break), newest last.
var start = DateTime.UtcNow.AddSeconds(-userCount / 4.0 - 60);
await using (var connection = await dataSource.OpenConnectionAsync())
{
    await using var writer = await connection.BeginBinaryImportAsync(Bench.Sql("copy_users"));
    for (var i = 0; i < userCount; i++)
    {
        await writer.StartRowAsync();
        await writer.WriteAsync($"bench-{i}@example.com", NpgsqlDbType.Text);
        await writer.WriteAsync($"Bench User {i}", NpgsqlDbType.Text);
        await writer.WriteAsync(Roles.Member, NpgsqlDbType.Text);
        await writer.WriteAsync(start.AddSeconds(i / 4), NpgsqlDbType.TimestampTz);
    }

    await writer.CompleteAsync();
}

var usersSeconds = clock.Elapsed.TotalSeconds;
long minId, maxId;
await using (var connection = await dataSource.OpenConnectionAsync())
{
    (minId, maxId) = await connection.QuerySingleAsync<(long, long)>(Bench.Sql("user_id_range"));
}

// Keys: two per user; one key in a hundred gets a real token (kept for the verify scenario),
// the rest a random hash (nobody will present their tokens).
var tokens = new List<string>();
await using (var connection = await dataSource.OpenConnectionAsync())
{
    await using var writer = await connection.BeginBinaryImportAsync(Bench.Sql("copy_keys"));
    var hash = new byte[32];
    var created = DateTime.UtcNow.AddMinutes(-5);
    for (long userId = minId; userId <= maxId; userId++)
    {
        for (var k = 0; k < KeysPerUser; k++)
        {
            string prefix;
            byte[] tokenHash;
            if (k == 0 && (userId - minId) % RealTokenEvery == 0)
            {
                var issued = ApiToken.Generate();
                tokens.Add(issued.Token);
                (prefix, tokenHash) = (issued.Prefix, issued.Hash);
            }
            else
            {
                RandomNumberGenerator.Fill(hash);
                (prefix, tokenHash) = ("uk_seeded", hash);
            }

            await writer.StartRowAsync();
            await writer.WriteAsync(userId, NpgsqlDbType.Bigint);
            await writer.WriteAsync(k == 0 ? "primary" : "secondary", NpgsqlDbType.Text);
            await writer.WriteAsync(prefix, NpgsqlDbType.Text);
            await writer.WriteAsync(tokenHash, NpgsqlDbType.Bytea);
            await writer.WriteAsync(created, NpgsqlDbType.TimestampTz);
        }
    }

    await writer.CompleteAsync();
}

var keysSeconds = clock.Elapsed.TotalSeconds - usersSeconds;
await using (var connection = await dataSource.OpenConnectionAsync())
{
    await connection.ExecuteAsync(Bench.Sql("audit_triggers_on"));
}

long minKeyId;
await using (var connection = await dataSource.OpenConnectionAsync())
{
    var layout = await connection.QuerySingleAsync<(long MinKeyId, long MaxKeyId, long Keys, long FirstUser, long LastUser)>(Bench.Sql("key_layout"));
    if (layout.Keys != userCount * KeysPerUser || layout.MaxKeyId - layout.MinKeyId + 1 != layout.Keys || layout.FirstUser != minId || layout.LastUser != maxId)
    {
        throw new InvalidOperationException($"the seeded keys are not laid out as the scenarios assume: {layout}");
    }

    minKeyId = layout.MinKeyId;
}

await using (var connection = await dataSource.OpenConnectionAsync())
{
    await connection.ExecuteAsync(new CommandDefinition(Bench.Sql("vacuum_analyze"), commandTimeout: 0));
}

var vacuumSeconds = clock.Elapsed.TotalSeconds - usersSeconds - keysSeconds;
await File.WriteAllLinesAsync(Path.Combine(output, "tokens.txt"), tokens);

// The deep page: the cursor the service would hand out after row number deepOffset.
var units = new UnitOfWorkFactory(dataSource);
var cursors = new UserCursor(new CursorSigner());
var (deepCreatedAt, deepId, firstPageIds) = await units.ReadAsync(async (unit, ct) =>
{
    await cursors.EnsureKeyAsync(unit, ct);
    var row = await unit.Connection.QuerySingleAsync<(DateTime CreatedAt, long Id)>(
        new CommandDefinition(Bench.Sql("row_at_offset"), new { offset = deepOffset - 1 }, unit.Transaction, cancellationToken: ct));
    var firstPage = await unit.Users.ListFirstPageAsync(51, ct);
    return (row.CreatedAt, row.Id, firstPage.Take(50).Select(user => user.Id).ToList());
}, CancellationToken.None);
var deepCursor = cursors.Encode(new UserPosition(deepCreatedAt, deepId));

await File.WriteAllTextAsync(Path.Combine(output, "env.sh"), string.Join('\n',
    $"MIN_ID={minId}",
    $"MAX_ID={maxId}",
    $"MIN_KEY_ID={minKeyId}",
    $"DEEP_OFFSET={deepOffset}",
    $"DEEP_CURSOR={deepCursor}",
    $"TOKENS={tokens.Count}",
    $"SEED_USERS={userCount}",
    $"SEED_KEYS={userCount * KeysPerUser}",
    string.Create(CultureInfo.InvariantCulture, $"SEED_SECONDS={clock.Elapsed.TotalSeconds:0.0}"),
    string.Create(CultureInfo.InvariantCulture, $"SEED_DETAIL=\"users {usersSeconds:0.0} s, keys {keysSeconds:0.0} s, vacuum+analyze {vacuumSeconds:0.0} s\""),
    "") );

// pgbench scripts: the templates with the service's statements and this seed's values.
var values = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["MIN_ID"] = minId.ToString(CultureInfo.InvariantCulture),
    ["MAX_ID"] = maxId.ToString(CultureInfo.InvariantCulture),
    ["MIN_KEY_ID"] = minKeyId.ToString(CultureInfo.InvariantCulture),
    ["USERS"] = userCount.ToString(CultureInfo.InvariantCulture),
    // The roll scenarios roll each secondary key once: wrk's warm-up the first tenth of the users, its measured run
    // the next three tenths, pgbench the last six (one slice per client).
    ["ROLL_PGBENCH_FROM"] = (userCount * 4 / 10).ToString(CultureInfo.InvariantCulture),
    ["ROLL_PGBENCH_SLICE"] = (userCount * 6 / 10 / 16).ToString(CultureInfo.InvariantCulture),
    ["DEEP_OFFSET"] = deepOffset.ToString(CultureInfo.InvariantCulture),
    ["DEEP_CREATED_AT"] = deepCreatedAt.ToString("yyyy-MM-dd HH:mm:ss.ffffff+00", CultureInfo.InvariantCulture),
    ["DEEP_ID"] = deepId.ToString(CultureInfo.InvariantCulture),
    ["FIRST_PAGE_IDS"] = "{" + string.Join(',', firstPageIds) + "}",
};
var pgbench = Directory.CreateDirectory(Path.Combine(output, "pgbench")).FullName;
foreach (var template in Bench.PgbenchTemplates())
{
    if (template.Name == "verify")
    {
        // One script per token: pgbench cannot pick a random bytea, so 32 scripts share the load.
        for (var i = 0; i < 32; i++)
        {
            values["TOKEN_HASH"] = Convert.ToHexStringLower(ApiToken.Hash(tokens[i * tokens.Count / 32]));
            await File.WriteAllTextAsync(Path.Combine(pgbench, $"verify_{i:00}.sql"), Bench.Render(template.Text, values));
        }
    }
    else
    {
        await File.WriteAllTextAsync(Path.Combine(pgbench, template.Name + ".sql"), Bench.Render(template.Text, values));
    }
}

await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
    $"seeded {userCount} users and {userCount * KeysPerUser} keys in {clock.Elapsed.TotalSeconds:0.0} s " +
    $"(users {usersSeconds:0.0} s, keys {keysSeconds:0.0} s, vacuum+analyze {vacuumSeconds:0.0} s); {tokens.Count} tokens kept"));
return 0;

/// <summary>The seeder's own SQL (bench/sql) and the pgbench templates (bench/pgbench), embedded.</summary>
internal static partial class Bench
{
    /// <summary>A bench/sql statement without its header comment (Npgsql wants COPY text to start with COPY).</summary>
    public static string Sql(string name) =>
        string.Join('\n', Read($"benchsql/{name}.sql").Split('\n').Where(line => !line.StartsWith("--", StringComparison.Ordinal))).Trim();

    public static IEnumerable<(string Name, string Text)> PgbenchTemplates() =>
        typeof(Bench).Assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith("pgbench/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name => (name["pgbench/".Length..^".sql".Length], Read(name)));

    /// <summary>
    /// Renders a template: <c>{{VALUE}}</c> from <paramref name="values"/>; a line <c>{{area/name}}</c> is that
    /// catalog statement (comments dropped), with <c>@param</c>s replaced by the indented <c>@param = expression</c>
    /// lines that follow, ended by <c>;</c> or by an indented <c>\gset</c>.
    /// </summary>
    public static string Render(string template, IReadOnlyDictionary<string, string> values)
    {
        var text = ValuePlaceholder().Replace(template, match => values.TryGetValue(match.Groups[1].Value, out var value)
            ? value
            : match.Value);
        var lines = text.Split('\n');
        var output = new StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            var statement = StatementPlaceholder().Match(lines[i]);
            if (!statement.Success)
            {
                output.Append(lines[i]).Append('\n');
                continue;
            }

            var sql = SqlCatalog.All.Single(entry => entry.Name == statement.Groups[1].Value).Text;
            sql = string.Join('\n', sql.Split('\n').Where(line => !line.TrimStart().StartsWith("--", StringComparison.Ordinal)));
            var terminator = ";";
            var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            while (i + 1 < lines.Length && lines[i + 1].StartsWith("  ", StringComparison.Ordinal))
            {
                var line = lines[++i].Trim();
                if (line == "\\gset")
                {
                    terminator = " \\gset";
                    continue;
                }

                var eq = line.IndexOf('=', StringComparison.Ordinal);
                parameters[line[1..eq].Trim()] = line[(eq + 1)..].Trim();
            }

            var missing = Regex.Matches(sql, @"@([a-z_][a-z0-9_]*)").Select(match => match.Groups[1].Value).Where(name => !parameters.ContainsKey(name)).ToList();
            if (missing.Count > 0)
            {
                throw new InvalidOperationException($"{statement.Groups[1].Value}: the template gives no value for @{string.Join(", @", missing)}");
            }

            foreach (var (name, expression) in parameters.OrderByDescending(pair => pair.Key.Length))
            {
                sql = Regex.Replace(sql, $@"@{name}\b", expression.Replace("$", "$$", StringComparison.Ordinal));
            }

            output.Append(sql.TrimEnd()).Append(terminator).Append('\n');
        }

        return output.ToString();
    }

    private static string Read(string resource)
    {
        using var stream = typeof(Bench).Assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"\{\{([A-Z_]+)\}\}")]
    private static partial Regex ValuePlaceholder();

    [GeneratedRegex(@"^\{\{([a-z_]+/[a-z_]+)\}\}\s*$")]
    private static partial Regex StatementPlaceholder();
}
