using Microsoft.Extensions.Logging.Console;

namespace UserKeys.Api.Infrastructure;

internal static class ConsoleSetup
{
    /// <summary>Every log line to stderr, one line each, so that stdout carries only the command's answer.</summary>
    public static void LogToStandardError(ILoggingBuilder logging)
    {
        logging.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            options.UseUtcTimestamp = true;
        });
        logging.Services.Configure<ConsoleLoggerOptions>(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
    }
}
