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
            .Configure<IConfiguration>((options, configuration) =>
            {
                options.ConnectionString = DatabaseConfiguration.Read(configuration);
                options.ListenConnectionString = DatabaseConfiguration.ReadListen(configuration);
            })
            .Validate(options => DatabaseConfiguration.Check(options.ConnectionString) is null, "ConnectionStrings:UserKeys is missing or invalid")
            .Validate(options => options.ListenConnectionString is null || DatabaseConfiguration.Check(options.ListenConnectionString) is null,
                "ConnectionStrings:UserKeysListen is invalid")
            .Validate<IOptions<ServiceOptions>>((options, service) => PoolerProblem(options.ConnectionString, service.Value.TransactionPooler) is null,
                PreparedBehindPooler)
            .ValidateOnStart();
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            if (DatabaseConfiguration.Check(options.ConnectionString) is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
            ApplyDefaults(builder.ConnectionStringBuilder, options.ConnectionString!,
                provider.GetRequiredService<IOptions<ServiceOptions>>().Value.TransactionPooler);
            builder.UseLoggerFactory(provider.GetRequiredService<ILoggerFactory>());
            // The pool's name in Npgsql's metrics (db.client.connection.pool.name), instead of the connection string.
            builder.Name = "userkeys";
            return builder.Build();
        });
        services.AddSingleton(provider =>
        {
            var primary = provider.GetRequiredService<NpgsqlDataSource>();
            var standbys = provider.GetRequiredService<IOptions<ServiceOptions>>().Value.ReadFromStandbys && primary is NpgsqlMultiHostDataSource hosts
                ? hosts.WithTargetSession(TargetSessionAttributes.PreferStandby)
                : null;
            return new UnitOfWorkFactory(primary, standbys);
        });
        services.AddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>Pool and session limits unless the connection string says otherwise (README, Operations).</summary>
    public const int DefaultTimeoutSeconds = 5;
    public const int DefaultStatementTimeoutMs = 15_000;
    public const int DefaultIdleInTransactionTimeoutMs = 30_000;

    /// <summary>
    /// Settings the service wants unless the connection string says otherwise: every statement comes from
    /// a fixed catalog, so auto-preparing them saves PostgreSQL a parse and plan per execution; the
    /// service never changes session state, so a pooled connection needs no DISCARD ALL on its way back.
    /// And explicit limits: at most <see cref="ConnectionDefaults.MaxPoolSize"/> connections, waiting at most
    /// <see cref="DefaultTimeoutSeconds"/> s for one (then 503), and server-side timeouts for a statement
    /// and for a transaction left idle, so that nothing the service starts can hold the database for long.
    /// Behind a pooler in transaction mode (<paramref name="transactionPooler"/>) consecutive transactions may
    /// run on different server connections: nothing is prepared, and no setting is sent at connect (PgBouncer
    /// 1.18 refuses the <c>options</c> startup parameter): the timeouts then come from the service role's own
    /// settings and the pooler's (README, "Behind PgBouncer").
    /// </summary>
    internal static void ApplyDefaults(NpgsqlConnectionStringBuilder builder, string original, bool transactionPooler)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = original };
        bool Given(params string[] names) => names.Any(given.ContainsKey);
        if (IsMultiHost(builder))
        {
            // Several hosts (a primary and its standbys): what is not marked as a stale read needs the primary, whichever
            // host that is after a failover; a host's role is checked again a second after it was last seen.
            if (!Given("Target Session Attributes", "TargetSessionAttributes"))
            {
                builder.TargetSessionAttributes = "primary";
            }

            if (!Given("Host Recheck Seconds", "HostRecheckSeconds"))
            {
                builder.HostRecheckSeconds = 1;
            }
        }

        if (transactionPooler)
        {
            if (!Given("Max Auto Prepare", "MaxAutoPrepare"))
            {
                builder.MaxAutoPrepare = 0;
            }

            ApplyLimits(builder, Given);
            return;
        }

        if (!Given("Max Auto Prepare", "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = ConnectionDefaults.MaxAutoPrepare;
        }

        if (!Given("Auto Prepare Min Usages", "AutoPrepareMinUsages"))
        {
            builder.AutoPrepareMinUsages = ConnectionDefaults.AutoPrepareMinUsages;
        }

        ApplyLimits(builder, Given);
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

    /// <summary>Whether the connection string names several hosts (Npgsql's multi-host: <c>Host=a:5432,b:5432</c>).</summary>
    internal static bool IsMultiHost(NpgsqlConnectionStringBuilder builder) => builder.Host?.Contains(',', StringComparison.Ordinal) == true;

    /// <summary>Null when the connection string suits <paramref name="transactionPooler"/>, else what is wrong.</summary>
    private static string? PoolerProblem(string? connectionString, bool transactionPooler)
    {
        if (!transactionPooler || connectionString is null || DatabaseConfiguration.Check(connectionString) is not null)
        {
            return null;
        }

        return new NpgsqlConnectionStringBuilder(connectionString).MaxAutoPrepare > 0 ? PreparedBehindPooler : null;
    }

    private const string PreparedBehindPooler =
        "UserKeys:TransactionPooler is set, but the connection string asks for prepared statements (Max Auto Prepare > 0), which PgBouncer 1.18 " +
        "in transaction mode does not keep: remove Max Auto Prepare from ConnectionStrings:UserKeys";

    private static void ApplyLimits(NpgsqlConnectionStringBuilder builder, Func<string[], bool> given)
    {
        // The service changes no session state, so a pooled connection needs no DISCARD ALL on its way back.
        if (!given(["No Reset On Close", "NoResetOnClose"]))
        {
            builder.NoResetOnClose = true;
        }

        if (!given(["Maximum Pool Size", "Max Pool Size", "MaxPoolSize"]))
        {
            builder.MaxPoolSize = ConnectionDefaults.MaxPoolSize;
        }

        if (!given(["Timeout"]))
        {
            builder.Timeout = DefaultTimeoutSeconds;
        }
    }
}
