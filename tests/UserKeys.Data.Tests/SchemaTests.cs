using Dapper;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

public sealed class SchemaTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>
{
    [Fact]
    public async Task Every_constraint_and_index_the_code_relies_on_exists_by_name()
    {
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var names = (await connection.QueryAsync<string>(TestSql.Get("schema_object_names"))).ToHashSet();

        Assert.Contains(PostgresErrorMap.UsersEmailUnique, names);
        Assert.Contains(PostgresErrorMap.ApiKeysTokenHashUnique, names);
        Assert.Contains(PostgresErrorMap.ApiKeysUserForeignKey, names);
        foreach (var expected in new[]
                 {
                     "users_pkey", "users_email_length_check", "users_name_length_check", "users_role_check", "users_created_at_id_idx",
                     "api_keys_pkey", "api_keys_token_hash_length_check", "api_keys_user_id_idx",
                 })
        {
            Assert.Contains(expected, names);
        }
    }
}
