using Npgsql;
using UserKeys.Data;

namespace UserKeys.Api.Infrastructure;

/// <summary>The request's unit of work, for the services the handler calls.</summary>
internal sealed class RequestUnitOfWork
{
    private UnitOfWork? _current;
    private List<Action>? _afterCommit;

    /// <summary>Runs <paramref name="action"/> once the request's transaction has committed (never if it rolls back).</summary>
    public void AfterCommit(Action action) => (_afterCommit ??= []).Add(action);

    internal void RunAfterCommit()
    {
        foreach (var action in _afterCommit ?? [])
        {
            action();
        }
    }

    /// <summary>Forgets a rolled-back attempt before the request is tried again.</summary>
    internal void Reset()
    {
        _current = null;
        _afterCommit?.Clear();
    }

    public UnitOfWork Current
    {
        get => _current ?? throw new InvalidOperationException("No unit of work is open: the endpoint lacks the unit-of-work filter.");
        set => _current = value;
    }
}

/// <summary>Endpoint metadata: which unit of work a request gets (it may depend on the query string).</summary>
internal sealed class UnitOfWorkMetadata(Func<HttpContext, UnitOfWorkMode> select)
{
    public UnitOfWorkMode Select(HttpContext context) => select(context);
}

/// <summary>
/// The request boundary. Opens the unit of work on the request's connection, runs the handler, and
/// commits BEFORE the response starts (a 2xx write is durable when the client sees it). Any exception,
/// or a handler result that is not a success, disposes it uncommitted: rolled back, nothing written.
/// </summary>
internal sealed partial class UnitOfWorkFilter(NpgsqlDataSource dataSource, ILogger<UnitOfWorkFilter> logger) : IEndpointFilter
{
    /// <summary>Attempts at a unit of work that failed before its commit began (a broken connection, a deadlock).</summary>
    public const int MaxAttempts = 3;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var mode = http.GetEndpoint()?.Metadata.GetMetadata<UnitOfWorkMetadata>()?.Select(http) ?? UnitOfWorkMode.ReadWrite;
        var services = http.RequestServices;
        var requestConnection = services.GetRequiredService<RequestConnection>();
        var request = services.GetRequiredService<RequestUnitOfWork>();
        for (var attempt = 1; ; attempt++)
        {
            var committing = false;
            try
            {
                var connection = await requestConnection.GetAsync(http.RequestAborted).ConfigureAwait(false);
                var unit = await services.GetRequiredService<UnitOfWorkFactory>().BeginAsync(connection, mode, http.RequestAborted).ConfigureAwait(false);
                await using (unit.ConfigureAwait(false))
                {
                    request.Current = unit;
                    var result = await next(context).ConfigureAwait(false);
                    if (mode != UnitOfWorkMode.ReadOnly && IsSuccess(result))
                    {
                        // From here on the outcome may be unknown after a failure: never retried.
                        committing = true;
                        await unit.CommitAsync(http.RequestAborted).ConfigureAwait(false);
                        request.RunAfterCommit();
                    }

                    return result;
                }
            }
            catch (Exception error) when (!committing && attempt < MaxAttempts && !http.RequestAborted.IsCancellationRequested
                && Retry.IsSafeToRetry(error))
            {
                // Nothing of this attempt was committed: it rolled back (or died with its connection).
                LogRetry(logger, attempt, error.GetType().Name, (error as Npgsql.PostgresException)?.SqlState ?? "-");
                await Retry.RecoverAsync(error, requestConnection, dataSource, attempt, http.RequestAborted).ConfigureAwait(false);
                request.Reset();
            }
            finally
            {
                // Writing the response needs no database: give the connection back first.
                await requestConnection.ReleaseAsync().ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unit of work attempt {Attempt} failed before commit ({ErrorType}, SQLSTATE {SqlState}); trying again")]
    private static partial void LogRetry(ILogger logger, int attempt, string errorType, string sqlState);

    private static bool IsSuccess(object? result) => result switch
    {
        INestedHttpResult nested => IsSuccess(nested.Result),
        IStatusCodeHttpResult { StatusCode: { } status } => status is >= 200 and < 300,
        _ => true,
    };
}

internal static class UnitOfWorkEndpointExtensions
{
    /// <summary>Runs the endpoint in a unit of work of <paramref name="mode"/>.</summary>
    public static TBuilder WithUnitOfWork<TBuilder>(this TBuilder builder, UnitOfWorkMode mode)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithUnitOfWork(_ => mode);

    /// <summary>Runs the endpoint in a unit of work whose mode the request decides.</summary>
    public static TBuilder WithUnitOfWork<TBuilder>(this TBuilder builder, Func<HttpContext, UnitOfWorkMode> select)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new UnitOfWorkMetadata(select));
}
