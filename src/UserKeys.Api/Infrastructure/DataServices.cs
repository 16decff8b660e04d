using Microsoft.Extensions.Options;
using Npgsql;
using UserKeys.Data;

namespace UserKeys.Api.Infrastructure;

internal static class DataServices
{
    /// <summary>
    /// The validated connection string, one NpgsqlDataSource for the process, and the unit of work
    /// factory over it. The connection string is read when first needed (not when registering), so
    /// configuration added later (tests, hosting) is seen.
    /// </summary>
    public static IServiceCollection AddUserKeysData(this IServiceCollection services)
    {
        services.AddOptions<DatabaseOptions>()
            .Configure<IConfiguration>((options, configuration) => options.ConnectionString = DatabaseConfiguration.Read(configuration))
            .Validate(options => DatabaseConfiguration.Check(options.ConnectionString) is null, "ConnectionStrings:UserKeys is missing or invalid")
            .ValidateOnStart();
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            if (DatabaseConfiguration.Check(options.ConnectionString) is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
            ApplyDefaults(builder.ConnectionStringBuilder, options.ConnectionString!);
            builder.UseLoggerFactory(provider.GetRequiredService<ILoggerFactory>());
            return builder.Build();
        });
        services.AddSingleton(provider => new UnitOfWorkFactory(provider.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>
    /// Settings the service wants unless the connection string says otherwise: every statement comes from
    /// a fixed catalog, so auto-preparing them saves PostgreSQL a parse and plan per execution; and the
    /// service never changes session state, so a pooled connection needs no DISCARD ALL on its way back.
    /// </summary>
    internal static void ApplyDefaults(NpgsqlConnectionStringBuilder builder, string original)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = original };
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        if (!given.ContainsKey("Auto Prepare Min Usages") && !given.ContainsKey("AutoPrepareMinUsages"))
        {
            builder.AutoPrepareMinUsages = 2;
        }

        if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }
    }
}
