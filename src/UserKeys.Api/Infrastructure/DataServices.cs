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

    /// <summary>Pool and session limits unless the connection string says otherwise (README, Operations).</summary>
    public const int DefaultMaxPoolSize = 50;
    public const int DefaultTimeoutSeconds = 5;
    public const int DefaultStatementTimeoutMs = 15_000;
    public const int DefaultIdleInTransactionTimeoutMs = 30_000;

    /// <summary>
    /// Settings the service wants unless the connection string says otherwise: every statement comes from
    /// a fixed catalog, so auto-preparing them saves PostgreSQL a parse and plan per execution; the
    /// service never changes session state, so a pooled connection needs no DISCARD ALL on its way back.
    /// And explicit limits: at most <see cref="DefaultMaxPoolSize"/> connections, waiting at most
    /// <see cref="DefaultTimeoutSeconds"/> s for one (then 503), and server-side timeouts for a statement
    /// and for a transaction left idle, so that nothing the service starts can hold the database for long.
    /// </summary>
    internal static void ApplyDefaults(NpgsqlConnectionStringBuilder builder, string original)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = original };
        bool Given(params string[] names) => names.Any(given.ContainsKey);
        if (!Given("Max Auto Prepare", "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        if (!Given("Auto Prepare Min Usages", "AutoPrepareMinUsages"))
        {
            builder.AutoPrepareMinUsages = 2;
        }

        if (!Given("No Reset On Close", "NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        if (!Given("Maximum Pool Size", "Max Pool Size", "MaxPoolSize"))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }

        if (!Given("Timeout"))
        {
            builder.Timeout = DefaultTimeoutSeconds;
        }

        var options = builder.Options ?? "";
        if (!options.Contains("statement_timeout", StringComparison.Ordinal))
        {
            options += $" -c statement_timeout={DefaultStatementTimeoutMs}";
        }

        if (!options.Contains("idle_in_transaction_session_timeout", StringComparison.Ordinal))
        {
            options += $" -c idle_in_transaction_session_timeout={DefaultIdleInTransactionTimeoutMs}";
        }

        builder.Options = options.Trim();
    }
}
