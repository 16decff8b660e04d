using Npgsql;
using UserKeys.Data;

namespace UserKeys.Api.Infrastructure;

internal static class DataServices
{
    /// <summary>One NpgsqlDataSource for the process, and the unit of work factory over it.</summary>
    public static IServiceCollection AddUserKeysData(this IServiceCollection services, string connectionString)
    {
        services.AddSingleton(provider =>
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            builder.UseLoggerFactory(provider.GetRequiredService<ILoggerFactory>());
            return builder.Build();
        });
        services.AddSingleton(provider => new UnitOfWorkFactory(provider.GetRequiredService<NpgsqlDataSource>()));
        return services;
    }
}
