using Npgsql;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// The request's connection: opened on first use, and handed back to the pool as soon as the
/// database work is done (after authentication, after the unit of work), so that a client that is slow
/// to send its body or to read the response never holds a pooled connection. Never two at once.
/// Disposed with the request's services, which ASP.NET Core does when the request ends, also when
/// the client went away mid-request.
/// </summary>
internal sealed class RequestConnection(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    private NpgsqlConnection? _connection;

    public async ValueTask<NpgsqlConnection> GetAsync(CancellationToken cancellationToken) =>
        _connection ??= await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Returns the connection to the pool; the next <see cref="GetAsync"/> takes one again.</summary>
    public ValueTask ReleaseAsync() => DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
            _connection = null;
        }
    }
}
