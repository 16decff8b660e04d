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
    /// <summary>
    /// The service: lines to stdout, written together at most every <see cref="CoalescingStream.Interval"/>; warnings and
    /// errors to stderr at once.
    /// </summary>
    public static void LogToConsole(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddZLoggerLogProcessor(options =>
        {
            Format(options);
            return new SplitByLevel(
                new AsyncStreamLineMessageWriter(new CoalescingStream(Console.OpenStandardOutput()), options),
                new AsyncStreamLineMessageWriter(Console.OpenStandardError(), options),
                LogLevel.Warning);
        });
    }

    /// <summary>The one-shot commands: every line to stderr, so that stdout carries only the command's answer.</summary>
    public static void LogToStandardError(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddZLoggerConsole(options =>
        {
            options.LogToStandardErrorThreshold = LogLevel.Trace;
            Format(options);
        });
    }

    private static void Format(ZLoggerOptions options) =>
        options.UsePlainTextFormatter(formatter =>
        {
            // Formatted straight into the line's UTF-8 buffer: no string per line. "O" (ISO 8601, UTC,
            // 100 ns digits) is the formatter's fast path; a custom pattern is parsed on every line.
            formatter.SetPrefixFormatter($"{0:O} {1}: {2}[{3}] ", static (in MessageTemplate template, in LogInfo info) =>
                template.Format(info.Timestamp.Utc.UtcDateTime, Level(info.LogLevel), info.Category.Name, info.EventId.Id));
            formatter.SetExceptionFormatter(static (writer, error) => Utf8String.Format(writer, $" {error}"));
        });

    /// <summary>Lines below <paramref name="standardErrorThreshold"/> to <paramref name="standardOutput"/>, the others to <paramref name="standardError"/>.</summary>
    private sealed class SplitByLevel(IAsyncLogProcessor standardOutput, IAsyncLogProcessor standardError, LogLevel standardErrorThreshold) : IAsyncLogProcessor
    {
        public void Post(IZLoggerEntry log) =>
            (log.LogInfo.LogLevel < standardErrorThreshold ? standardOutput : standardError).Post(log);

        public async ValueTask DisposeAsync()
        {
            await standardOutput.DisposeAsync().ConfigureAwait(false);
            await standardError.DisposeAsync().ConfigureAwait(false);
        }
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
