using System.Text;
using UserKeys.Api.Infrastructure;
using UserKeys.Testing;

namespace UserKeys.Api.Tests;

/// <summary>The log's standard output: lines flushed one by one reach it together, within the interval; nothing is lost.</summary>
public sealed class CoalescingStreamTests
{
    [Fact]
    public void Lines_flushed_one_by_one_wait_for_the_interval_and_go_out_in_one_write()
    {
        var output = new RecordingStream();
        var stream = new CoalescingStream(output, TimeSpan.FromHours(1));
        for (var i = 0; i < 100; i++)
        {
            stream.Write(Encoding.UTF8.GetBytes($"line {i}\n"));
            stream.Flush();
        }

        Assert.Empty(output.Writes);
        stream.Dispose();

        Assert.Single(output.Writes);
        Assert.Equal(string.Concat(Enumerable.Range(0, 100).Select(i => $"line {i}\n")), output.Text);
    }

    [Fact]
    public async Task A_flushed_line_reaches_the_output_after_the_interval_without_more_writes()
    {
        var output = new RecordingStream();
        using var stream = new CoalescingStream(output, TimeSpan.FromMilliseconds(50));
        stream.Write("alone\n"u8);
        await stream.FlushAsync();

        var (text, _) = await Poll.UntilAsync(() => Task.FromResult(output.Text), text => text.Length > 0, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5));

        Assert.Equal("alone\n", text);
    }

    [Fact]
    public void Disposing_writes_what_is_pending_and_closes_the_output()
    {
        var output = new RecordingStream();
        var stream = new CoalescingStream(output, TimeSpan.FromHours(1));
        stream.Write("last words\n"u8);

        stream.Dispose();

        Assert.Equal("last words\n", output.Text);
        Assert.True(output.Disposed);
    }

    [Fact]
    public void A_full_buffer_is_written_at_once_and_in_order()
    {
        var output = new RecordingStream();
        using var stream = new CoalescingStream(output, TimeSpan.FromHours(1));
        var line = Encoding.UTF8.GetBytes(new string('x', 999) + "\n");
        var lines = (CoalescingStream.Capacity / line.Length) + 1;
        for (var i = 0; i < lines; i++)
        {
            stream.Write(line);
        }

        Assert.Single(output.Writes);
        stream.Write(new byte[CoalescingStream.Capacity]);
        Assert.Equal(3, output.Writes.Count);
        Assert.Equal(CoalescingStream.Capacity, output.Writes[2]);
        Assert.Equal((lines - 1) * line.Length, output.Writes[0]);
        Assert.Equal(line.Length, output.Writes[1]);
    }

    private sealed class RecordingStream : MemoryStream
    {
        private readonly Lock _gate = new();

        public List<int> Writes { get; } = [];

        public bool Disposed { get; private set; }

        public string Text
        {
            get
            {
                lock (_gate)
                {
                    return Encoding.UTF8.GetString(ToArray());
                }
            }
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            lock (_gate)
            {
                Writes.Add(buffer.Length);
                base.Write(buffer);
            }
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            // The text stays readable after the writer closed it.
        }
    }
}
