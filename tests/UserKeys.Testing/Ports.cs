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
}
