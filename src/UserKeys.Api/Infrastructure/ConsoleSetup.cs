using Utf8StringInterpolation;
using ZLogger;
using ZLogger.Formatters;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Log lines as plain text, one per line: <c>2026-11-25T10:00:00.1234567Z info: Category[event] message</c>.
/// Written by ZLogger: each line is formatted as UTF-8 without allocating, and one background writer
/// batches them, so that logging never waits on the terminal or pipe (lines still queued are written
/// when the host stops). Levels come from configuration (<c>Logging:LogLevel</c>) as before.
/// </summary>
internal static class ConsoleSetup
{
    /// <summary>The service: lines to stdout, warnings and errors to stderr.</summary>
    public static void LogToConsole(ILoggingBuilder logging) => Add(logging, LogLevel.Warning);

    /// <summary>The one-shot commands: every line to stderr, so that stdout carries only the command's answer.</summary>
    public static void LogToStandardError(ILoggingBuilder logging) => Add(logging, LogLevel.Trace);

    private static void Add(ILoggingBuilder logging, LogLevel standardErrorThreshold)
    {
        logging.ClearProviders();
        logging.AddZLoggerConsole(options =>
        {
            options.LogToStandardErrorThreshold = standardErrorThreshold;
            options.UsePlainTextFormatter(formatter =>
            {
                // Formatted straight into the line's UTF-8 buffer: no string per line. "O" (ISO 8601, UTC,
                // 100 ns digits) is the formatter's fast path; a custom pattern is parsed on every line.
                formatter.SetPrefixFormatter($"{0:O} {1}: {2}[{3}] ", static (in MessageTemplate template, in LogInfo info) =>
                    template.Format(info.Timestamp.Utc.UtcDateTime, Level(info.LogLevel), info.Category.Name, info.EventId.Id));
                formatter.SetExceptionFormatter(static (writer, error) => Utf8String.Format(writer, $" {error}"));
            });
        });
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
