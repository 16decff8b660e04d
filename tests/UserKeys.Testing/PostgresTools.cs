using System.Diagnostics;
using Npgsql;

namespace UserKeys.Testing;

/// <summary>PostgreSQL's client programs (pg_dump), run against a test database.</summary>
public static class PostgresTools
{
    /// <summary>The newest pg_dump under /usr/lib/postgresql/*/bin, else the one on PATH.</summary>
    public static string PgDump()
    {
        var installed = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin", "pg_dump"))
                .Where(File.Exists)
                .OrderByDescending(path => path, StringComparer.Ordinal)
                .FirstOrDefault()
            : null;
        return installed ?? "pg_dump";
    }

    /// <summary>The plain-text dump (schema and data) of the database <paramref name="connectionString"/> names.</summary>
    public static async Task<string> DumpAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var info = new ProcessStartInfo(PgDump()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--no-owner", "--host", builder.Host!, "--port", builder.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--username", builder.Username!, builder.Database! })
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["PGPASSWORD"] = builder.Password ?? "";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_dump failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }
}
