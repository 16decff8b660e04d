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
// The connection string is the service's (ConnectionStrings__UserKeys), with the same statement
// preparation and pool size the service applies by default, so that the two differ only in what the
// service adds.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ReferenceJson.Default));
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
await app.RunAsync();

internal sealed record Constant(string Status);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Constant))]
[JsonSerializable(typeof(UserRow))]
internal sealed partial class ReferenceJson : JsonSerializerContext;
