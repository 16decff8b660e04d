using Microsoft.AspNetCore.Http.Metadata;
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
internal sealed class UnitOfWorkFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var mode = http.GetEndpoint()?.Metadata.GetMetadata<UnitOfWorkMetadata>()?.Select(http) ?? UnitOfWorkMode.ReadWrite;
        var services = http.RequestServices;
        var requestConnection = services.GetRequiredService<RequestConnection>();
        try
        {
            var connection = await requestConnection.GetAsync(http.RequestAborted).ConfigureAwait(false);
            var unit = await services.GetRequiredService<UnitOfWorkFactory>().BeginAsync(connection, mode, http.RequestAborted).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                var request = services.GetRequiredService<RequestUnitOfWork>();
                request.Current = unit;
                var result = await next(context).ConfigureAwait(false);
                if (mode != UnitOfWorkMode.ReadOnly && IsSuccess(result))
                {
                    await unit.CommitAsync(http.RequestAborted).ConfigureAwait(false);
                    request.RunAfterCommit();
                }

                return result;
            }
        }
        finally
        {
            // Writing the response needs no database: give the connection back first.
            await requestConnection.ReleaseAsync().ConfigureAwait(false);
        }
    }

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
