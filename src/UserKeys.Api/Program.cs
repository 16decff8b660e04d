using System.Runtime.InteropServices;
using UserKeys.Api.Commands;

var commandLine = CommandLine.Parse(args, out var usageError);
if (commandLine is null)
{
    await Console.Error.WriteLineAsync($"UserKeys.Api: {usageError}");
    await Console.Error.WriteLineAsync(CommandLine.Usage);
    return ExitCodes.Usage;
}

if (commandLine.Verb == "help")
{
    await Console.Out.WriteLineAsync(CommandLine.Usage);
    return ExitCodes.Success;
}

if (commandLine.Verb == "serve")
{
    return await ServeCommand.RunAsync(commandLine);
}

// The one-shot verbs stop cleanly on Ctrl+C or SIGTERM: the running script rolls back.
using var stopping = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stopping.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stopping.Cancel(); });
return commandLine.Verb switch
{
    "migrate" => await MigrateCommand.RunAsync(commandLine, stopping.Token),
    "audit-purge" => await AuditPurgeCommand.RunAsync(commandLine, stopping.Token),
    _ => await BootstrapAdminCommand.RunAsync(commandLine, stopping.Token),
};

/// <summary>The entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
