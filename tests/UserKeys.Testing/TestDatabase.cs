using Npgsql;

namespace UserKeys.Testing;

/// <summary>A database of its own for one test class (or one test); dropped on dispose.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    internal TestDatabase(string name, string connectionString, string? serviceConnectionString = null)
    {
        Name = name;
        ConnectionString = connectionString;
        ServiceConnectionString = serviceConnectionString ?? connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string Name { get; }

    /// <summary>As the database's owner (the role that migrated it): for the tests' own SQL.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// As the service runs: <see cref="PostgresServer.ServiceRole"/>, rows but not the schema, in a migrated database; the
    /// owner in an empty one (nothing is granted there yet).
    /// </summary>
    public string ServiceConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync().ConfigureAwait(false);
        await PostgresServer.DropDatabaseAsync(Name).ConfigureAwait(false);
    }
}

/// <summary>xunit class fixture: one migrated database for all the tests of a class.</summary>
public sealed class MigratedDatabaseFixture : Xunit.IAsyncLifetime
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("The fixture is not initialised.");

    public async Task InitializeAsync() => _database = await PostgresServer.CreateMigratedDatabaseAsync().ConfigureAwait(false);

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync().ConfigureAwait(false);
        }
    }
}

public static class TestDatabaseJournal
{
    /// <summary>The scripts DbUp's journal records, in the order they were applied.</summary>
    public static async Task<List<string>> JournalAsync(this TestDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        await using var connection = await database.DataSource.OpenConnectionAsync().ConfigureAwait(false);
        return (await Dapper.SqlMapper.QueryAsync<string>(connection, TestSql.Get("journal_scripts")).ConfigureAwait(false)).ToList();
    }
}
