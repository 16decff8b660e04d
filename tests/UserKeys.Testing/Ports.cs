using System.Net;
using System.Net.Sockets;

namespace UserKeys.Testing;

/// <summary>Ports of 127.0.0.1 for the servers the tests start.</summary>
public static class Ports
{
    /// <summary>A port the system picks as free now (from its ephemeral range): for a server started right away.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A port nothing listens on, from <paramref name="first"/> up: below the ephemeral range for a server that a test
    /// keeps (as scripts/pg-local does), where a client socket cannot hold it unseen.
    /// </summary>
    public static int FreeFrom(int first)
    {
        for (var port = first; port < first + 400; port++)
        {
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: the next one.
            }
        }

        throw new InvalidOperationException($"no free port between {first} and {first + 399}");
    }
}
