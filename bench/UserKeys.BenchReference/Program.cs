using System.Text.Json;
using System.Text.Json.Serialization;
using Dapper;
using Npgsql;
using UserKeys.Data;
using UserKeys.Data.Sql;
using UserKeys.Data.Users;

// The bench's references, on one port (bench/run starts it beside the service):
//   GET|POST /constant      a constant JSON body: the least a request costs in ASP.NET Core
//   GET /users/{id}         the service's own users/get_by_id statement through Dapper on a pooled
//                           connection, the row as JSON: the least GET /v1/users/{id} can cost
//   GET /users-with-keys    the service's users/list_first_page_with_keys statement (limit from the query
//                           string) through Dapper, its rows folded into users with their keys, as JSON:
//                           the least GET /v1/users?include=keys can cost (no cursor, meta and rate_limits
//                           as strings, no auth, no log line)
// The connection string is the service's (ConnectionStrings__UserKeys), with the same statement
// preparation and pool size the service applies by default, so that the two differ only in what the
// service adds.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(json =>
{
    // snake_case like the service's bodies (the context's own options do not apply to these options).
    json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
    json.SerializerOptions.TypeInfoResolverChain.Insert(0, ReferenceJson.Default);
});
var connectionString = builder.Configuration.GetConnectionString("UserKeys")
    ?? throw new InvalidOperationException("ConnectionStrings__UserKeys is not set");
await using var dataSource = new NpgsqlDataSourceBuilder(connectionString)
{
    ConnectionStringBuilder =
    {
        MaxAutoPrepare = ConnectionDefaults.MaxAutoPrepare, AutoPrepareMinUsages = ConnectionDefaults.AutoPrepareMinUsages,
        NoResetOnClose = true, MaxPoolSize = ConnectionDefaults.MaxPoolSize,
    },
}.Build();
var getById = SqlCatalog.Users.GetById.Text;
var firstPageWithKeys = SqlCatalog.Users.ListFirstPageWithKeys.Text;
// Map created_at to CreatedAt as the service does, so that both read every column.
DefaultTypeMap.MatchNamesWithUnderscores = true;

var app = builder.Build();
var constant = new Constant("ok");
app.MapGet("/constant", () => constant);
app.MapPost("/constant", () => constant);
app.MapGet("/users/{id:long}", async (long id, CancellationToken cancellationToken) =>
{
    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
    var user = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(getById, new { id }, cancellationToken: cancellationToken));
    return user is null ? Results.NotFound() : Results.Ok(user);
});
app.MapGet("/users-with-keys", async (int limit, CancellationToken cancellationToken) =>
{
    await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
    var rows = await connection.QueryAsync<JoinedRow>(new CommandDefinition(firstPageWithKeys, new { limit }, cancellationToken: cancellationToken));
    var users = new List<UserWithKeysJson>();
    foreach (var row in rows)
    {
        if (users.Count == 0 || users[^1].Id != row.Id)
        {
            users.Add(new UserWithKeysJson(row.Id, row.Email, row.Name, row.Role, row.CreatedAt, []));
        }

        if (row.KeyId is { } keyId)
        {
            users[^1].Keys.Add(new KeyJson(
                keyId, row.Id, row.KeyName, row.KeyPrefix!, row.KeyCreatedAt!.Value, row.KeyExpiresAt, row.KeyRevokedAt, row.KeyLastUsedAt,
                row.KeyEnabled ?? true, row.KeyScopes ?? [], row.KeyPermissions ?? [], row.KeyMeta, row.KeyRolledFromId, row.KeyRemaining,
                row.KeyRefillInterval, row.KeyRefillAmount, row.KeyRefilledAt, row.KeyRateLimits));
        }
    }

    return Results.Ok(new UserPageJson(users, null));
});
await app.RunAsync();

internal sealed record Constant(string Status);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Constant))]
[JsonSerializable(typeof(UserRow))]
[JsonSerializable(typeof(UserPageJson))]
internal sealed partial class ReferenceJson : JsonSerializerContext;

internal sealed record UserPageJson(List<UserWithKeysJson> Items, string? NextCursor);

internal sealed record UserWithKeysJson(long Id, string Email, string? Name, string Role, DateTime CreatedAt, List<KeyJson> Keys);

internal sealed record KeyJson(
    long Id, long UserId, string? Name, string Prefix, DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt,
    bool Enabled, string[] Scopes, string[] Permissions, string? Meta, long? RolledFromId, long? Remaining, string? RefillInterval,
    long? RefillAmount, DateTime? RefilledAt, string? RateLimits);

/// <summary>One row of users/list_first_page_with_keys, every column read.</summary>
internal sealed record JoinedRow
{
    public long Id { get; init; }
    public required string Email { get; init; }
    public string? Name { get; init; }
    public required string Role { get; init; }
    public DateTime CreatedAt { get; init; }
    public long? KeyId { get; init; }
    public string? KeyName { get; init; }
    public string? KeyPrefix { get; init; }
    public DateTime? KeyCreatedAt { get; init; }
    public DateTime? KeyExpiresAt { get; init; }
    public DateTime? KeyRevokedAt { get; init; }
    public DateTime? KeyLastUsedAt { get; init; }
    public bool? KeyEnabled { get; init; }
    public string[]? KeyScopes { get; init; }
    public string[]? KeyPermissions { get; init; }
    public string? KeyMeta { get; init; }
    public long? KeyRolledFromId { get; init; }
    public long? KeyRemaining { get; init; }
    public string? KeyRefillInterval { get; init; }
    public long? KeyRefillAmount { get; init; }
    public DateTime? KeyRefilledAt { get; init; }
    public string? KeyRateLimits { get; init; }
}
