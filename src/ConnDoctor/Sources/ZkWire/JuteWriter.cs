using System.Buffers.Binary;
using System.Text;

namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// Builds one length-prefixed jute frame in a reusable buffer: the 4-byte length is reserved at the start and
/// filled in by <see cref="Frame"/>. Only the field types our requests need.
/// </summary>
public sealed class JuteWriter
{
    private byte[] _buf = new byte[256];
    private int _len = 4;

    /// <summary>Starts a new frame, forgetting the previous one.</summary>
    public JuteWriter Reset()
    {
        _len = 4;
        return this;
    }

    public void WriteInt(int v) => BinaryPrimitives.WriteInt32BigEndian(Grow(4), v);
    public void WriteLong(long v) => BinaryPrimitives.WriteInt64BigEndian(Grow(8), v);
    public void WriteBool(bool v) => Grow(1)[0] = v ? (byte)1 : (byte)0;

    public void WriteBuffer(ReadOnlySpan<byte> data)
    {
        WriteInt(data.Length);
        data.CopyTo(Grow(data.Length));
    }

    public void WriteString(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        WriteInt(n);
        Encoding.UTF8.GetBytes(s, Grow(n));
    }

    /// <summary>The whole frame, length prefix included; valid until the next write or Reset.</summary>
    public ReadOnlySpan<byte> Frame()
    {
        BinaryPrimitives.WriteInt32BigEndian(_buf, _len - 4);
        return _buf.AsSpan(0, _len);
    }

    private Span<byte> Grow(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }
}
