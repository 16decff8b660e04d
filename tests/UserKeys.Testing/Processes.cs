using System.Diagnostics;

namespace UserKeys.Testing;

/// <summary>The machine's programs the tests run to completion (chown, initdb, pg_ctl, pg_basebackup, ...).</summary>
public static class Processes
{
    /// <summary>Runs <paramref name="file"/> and waits; throws with its output when it exits non-zero (arguments naming a password are left out).</summary>
    public static async Task RunAsync(string file, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var shown = string.Join(' ', args.Where(arg => !arg.Contains("password", StringComparison.OrdinalIgnoreCase)));
            throw new InvalidOperationException($"{file} {shown} exited {process.ExitCode}: {await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }
    }
}
