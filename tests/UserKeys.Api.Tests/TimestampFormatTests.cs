using System.Globalization;
using System.Text;
using UserKeys.Api.Infrastructure;

namespace UserKeys.Api.Tests;

/// <summary>The hand-written timestamp writer answers exactly what the documented format string does.</summary>
public sealed class TimestampFormatTests
{
    public static TheoryData<DateTime> Instants()
    {
        var data = new TheoryData<DateTime>
        {
            DateTime.MinValue, DateTime.MaxValue, DateTime.UnixEpoch,
            new(2024, 2, 29, 23, 59, 59, 999, 999, DateTimeKind.Utc),
            new(2026, 11, 24, 10, 0, 0, DateTimeKind.Utc),
            new(999, 1, 2, 3, 4, 5, 6, 7, DateTimeKind.Utc),
            new(2026, 11, 24, 10, 0, 0, 0, 123, DateTimeKind.Unspecified),
        };
        var random = new Random(20261125);
        for (var i = 0; i < 200; i++)
        {
            data.Add(new DateTime(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Instants))]
    public void The_utf8_digits_match_the_format_string(DateTime instant)
    {
        Span<byte> utf8 = stackalloc byte[32];
        var written = UtcTimestampConverter.Utf8(instant, utf8);

        var utc = instant.Kind == DateTimeKind.Utc ? instant : instant.ToUniversalTime();
        Assert.Equal(utc.ToString(UtcTimestampConverter.Format, CultureInfo.InvariantCulture), Encoding.UTF8.GetString(utf8[..written]));
    }
}
