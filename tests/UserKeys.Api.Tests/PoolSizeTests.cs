using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace UserKeys.Api.Tests;

/// <summary>The pool's size: twice the cores the process may use (4 to 50) unless the connection string gives one.</summary>
public sealed class PoolSizeTests(ApiFactory api, TinyPoolFactory tiny) : IClassFixture<ApiFactory>, IClassFixture<TinyPoolFactory>
{
    [Fact]
    public void Without_a_size_in_the_connection_string_the_pool_holds_twice_the_cores()
    {
        var pool = MaxPoolSize(api);
        Assert.Equal(Math.Clamp(2 * Environment.ProcessorCount, 4, 50), pool);
        Assert.InRange(pool, 4, 50);
    }

    [Fact]
    public void A_size_in_the_connection_string_is_kept() => Assert.Equal(1, MaxPoolSize(tiny));

    private static int MaxPoolSize(ApiFactory factory) =>
        new NpgsqlConnectionStringBuilder(factory.Services.GetRequiredService<NpgsqlDataSource>().ConnectionString).MaxPoolSize;
}
