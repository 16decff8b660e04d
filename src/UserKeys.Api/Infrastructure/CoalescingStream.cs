namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Standard output for the log writer, written at most every <see cref="Interval"/> or per <see cref="Capacity"/> bytes.
/// ZLogger's writer flushes whenever its queue runs dry: under load that was a <c>write</c> call for every few lines
/// (about 5,000 a second at 20,000 requests a second), 1-2% of the machine in the kernel alone. Lines now reach the
/// stream within <see cref="Interval"/>; <see cref="Dispose(bool)"/> (the host stopping) writes what is left.
/// </summary>
internal sealed class CoalescingStream : Stream
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    public const int Capacity = 64 * 1024;

    private readonly Stream _inner;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    private readonly Timer _timer;
    private readonly byte[] _buffer = new byte[Capacity];
    private int _pending;
    private bool _armed;
    private bool _disposed;

    public CoalescingStream(Stream inner, TimeSpan? interval = null)
    {
        _inner = inner;
        _interval = interval ?? Interval;
        _timer = new Timer(static state => ((CoalescingStream)state!).WritePending(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pending + buffer.Length > Capacity)
            {
                WritePendingLocked();
            }

            if (buffer.Length >= Capacity)
            {
                WriteInner(buffer);
                return;
            }

            buffer.CopyTo(_buffer.AsSpan(_pending));
            _pending += buffer.Length;
        }
    }

    /// <summary>The writer's flush: the bytes go out within the interval, together with those that follow.</summary>
    public override void Flush()
    {
        lock (_gate)
        {
            if (_pending > 0 && !_armed && !_disposed)
            {
                _armed = true;
                _timer.Change(_interval, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void WritePending()
    {
        lock (_gate)
        {
            _armed = false;
            WritePendingLocked();
        }
    }

    private void WritePendingLocked()
    {
        if (_pending > 0)
        {
            WriteInner(_buffer.AsSpan(0, _pending));
            _pending = 0;
        }
    }

    private void WriteInner(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _inner.Write(bytes);
            _inner.Flush();
        }
        catch (IOException)
        {
            // Standard output is gone (a closed pipe): the lines cannot be written anywhere.
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate)
            {
                if (!_disposed)
                {
                    _disposed = true;
                    _timer.Dispose();
                    WritePendingLocked();
                    _inner.Dispose();
                }
            }
        }

        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
