using Microsoft.Extensions.Logging.Console;

namespace UserKeys.Api.Infrastructure;

internal static class ConsoleSetup
{
    /// <summary>Every log line to stderr, so that stdout carries only the command's answer.</summary>
    public static void LogToStandardError(ILoggingBuilder logging) =>
        logging.Services.Configure<ConsoleLoggerOptions>(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
}
