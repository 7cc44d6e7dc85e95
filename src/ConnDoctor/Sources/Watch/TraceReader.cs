using ConnDoctor.Native;

namespace ConnDoctor.Sources.Watch;

public delegate void TraceEventHandler(in TraceEvent ev);

/// <summary>
/// Reads what the trace instance holds and hands each event to a handler, in time order. Two back ends: the binary
/// per-CPU ring-buffer pages (<see cref="RawTraceReader"/>, the default) and the text of trace_pipe
/// (<see cref="TextTraceReader"/>, when the binary layout is not one this reader understands).
/// </summary>
public abstract class TraceReader : IDisposable
{
    /// <summary>"binary" or "text".</summary>
    public abstract string Format { get; }

    /// <summary>Lines or records that did not read as one of the three events (counted, skipped).</summary>
    public int Malformed { get; protected set; }

    /// <summary>Reads what is waiting and handles every whole event; returns the bytes read (0: nothing was waiting).</summary>
    public abstract int ReadSome(TraceEventHandler handle);

    public abstract void Dispose();

    protected static unsafe int ReadFd(int fd, Span<byte> buffer, string what)
    {
        fixed (byte* b = buffer)
        {
            nint n = Libc.read(fd, b, buffer.Length);
            if (n >= 0) return (int)n;
            int e = Libc.Errno;
            if (e is EAGAIN or Libc.EINTR) return 0;
            throw new SourceException($"reading {what}: {Libc.ErrorText(e)}", e);
        }
    }

    protected const int EAGAIN = 11;

    /// <summary>
    /// How long a reader waits after a read that found little: the per-CPU buffers (4 MB in our instance, some 50,000
    /// events each) hold seconds of events at thousands a second, so batches of 100 ms lose nothing and save wake-ups.
    /// </summary>
    public const int PollMs = 100;

    /// <summary>A read of at least this much means the kernel holds more: read again at once.</summary>
    public const int BacklogBytes = 256 << 10;
}

/// <summary>
/// trace_pipe's text, cut into lines and parsed by <see cref="TraceLineParser"/>: the one line loop of `watch` and the
/// agent. A line longer than the buffer is dropped (counted as malformed).
/// </summary>
public sealed class TextTraceReader(int fd) : TraceReader
{
    private readonly byte[] _buf = new byte[1 << 20];
    private int _have;
    private int _fd = fd;

    public override string Format => "text";

    /// <summary>Reads until trace_pipe is empty or the buffer full (one read() returns at most a page of text).</summary>
    public override int ReadSome(TraceEventHandler handle)
    {
        int total = 0;
        while (true)
        {
            int n = ReadOnce(handle);
            total += n;
            if (n == 0 || total >= _buf.Length) return total;
        }
    }

    private int ReadOnce(TraceEventHandler handle)
    {
        int n = ReadFd(_fd, _buf.AsSpan(_have), "trace_pipe");
        if (n == 0)
        {
            if (_have == _buf.Length) { _have = 0; Malformed++; } // a line longer than the buffer: drop it
            return 0;
        }
        _have += n;
        int consumed = 0;
        var span = _buf.AsSpan(0, _have);
        while (true)
        {
            int nl = span[consumed..].IndexOf((byte)'\n');
            if (nl < 0) break;
            var line = span.Slice(consumed, nl);
            consumed += nl + 1;
            if (TraceLineParser.TryParse(line, out var ev)) handle(ev);
            else if (line.Length > 0) Malformed++;
        }
        span[consumed..].CopyTo(_buf);
        _have -= consumed;
        return n;
    }

    public override void Dispose()
    {
        if (_fd >= 0) { Libc.close(_fd); _fd = -1; }
    }
}
