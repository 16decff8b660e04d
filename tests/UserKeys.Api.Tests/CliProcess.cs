using System.Diagnostics;

namespace UserKeys.Api.Tests;

/// <summary>Runs the built <c>UserKeys.Api</c> executable as a deploy pipeline would: a process, its exit code, stdout and stderr.</summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    private static string ApiAssembly => Path.Combine(AppContext.BaseDirectory, "UserKeys.Api.dll");

    public static Process Start(string? connectionString, params string[] args) =>
        Start(connectionString, new Dictionary<string, string>(), args);

    public static Process Start(string? connectionString, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ApiAssembly);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("ConnectionStrings__UserKeys");
        if (connectionString is not null)
        {
            info.Environment["ConnectionStrings__UserKeys"] = connectionString;
        }

        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start UserKeys.Api");
    }

    public static async Task<Result> RunAsync(string? connectionString, params string[] args)
    {
        using var process = Start(connectionString, args);
        return await WaitAsync(process);
    }

    public static async Task<Result> WaitAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
