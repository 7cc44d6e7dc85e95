using ConnDoctor.Sources.ZkWire;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>The frame reader over random and truncated bytes: a result or a ZkException, never anything else.</summary>
public class JuteFuzzTests
{
    /// <summary>Every parse the client does on a received frame, in the order it does them.</summary>
    private static readonly Action<byte[]>[] Parsers =
    [
        b => ZkProtocol.FrameLength(b.Length >= 4 ? b : [.. b, 0, 0, 0, 0]),
        b => ZkProtocol.ParseConnectResponse(b),
        b => { var r = new JuteReader(b); ZkProtocol.ReadReplyHeader(ref r); r.ReadStringVector(); },
        b => { var r = new JuteReader(b); ZkProtocol.ReadReplyHeader(ref r); r.ReadStringVector(); r.ReadStat(); },
        b => { var r = new JuteReader(b); ZkProtocol.ReadReplyHeader(ref r); r.ReadBuffer(); r.ReadStat(); },
        b => { var r = new JuteReader(b); ZkProtocol.ReadReplyHeader(ref r); r.ReadString(); },
        b => { var r = new JuteReader(b); r.ReadInt(); r.ReadInt(); r.ReadString(); },   // a watch notification
    ];

    private static int Outcome(Action<byte[]> parse, byte[] bytes)
    {
        try
        {
            parse(bytes);
            return 0;
        }
        catch (ZkException ex)
        {
            Assert.Equal(ZkErrorCode.MarshallingError, ex.Code);
            Assert.DoesNotContain('\n', ex.Message);
            return 1;
        }
    }

    [Fact]
    public void RandomBytesParseOrFailWithAZkException()
    {
        var random = new Random(1234);
        int failures = 0, runs = 0;
        for (int i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 120)];
            random.NextBytes(bytes);
            // Half the time make lengths and counts small enough to be believed, so parsing goes deeper.
            if (i % 2 == 0)
                for (int j = 0; j + 4 <= bytes.Length; j += 4) { bytes[j] = 0; bytes[j + 1] = 0; bytes[j + 2] &= 0x00; bytes[j + 3] &= 0x1f; }
            foreach (var parse in Parsers)
            {
                failures += Outcome(parse, bytes);
                runs++;
            }
        }
        Assert.InRange(failures, 1, runs - 1);   // both outcomes happen: the fuzz reaches past the first check
    }

    [Fact]
    public void EveryTruncationOfAValidReplyFailsCleanlyAndTheWholeReplyParses()
    {
        var w = new JuteWriter();
        w.WriteInt(5); w.WriteLong(0x100000007); w.WriteInt(0);     // reply header
        w.WriteInt(3);
        foreach (var name in (string[])["a", "ключ", "task-0000000001"]) w.WriteString(name);
        foreach (long v in (long[])[1, 2, 3, 4]) w.WriteLong(v);   // czxid mzxid ctime mtime
        w.WriteInt(5); w.WriteInt(6); w.WriteInt(7);               // version cversion aversion
        w.WriteLong(0x1000000abcdef);                               // ephemeralOwner
        w.WriteInt(8); w.WriteInt(3); w.WriteLong(9);              // dataLength numChildren pzxid
        var frame = w.Frame()[4..].ToArray();

        var whole = new JuteReader(frame);
        Assert.Equal((5, 0x100000007L, 0), ZkProtocol.ReadReplyHeader(ref whole));
        Assert.Equal(["a", "ключ", "task-0000000001"], whole.ReadStringVector());
        Assert.Equal(new ZkStat(1, 2, 3, 4, 5, 6, 7, 0x1000000abcdef, 8, 3, 9), whole.ReadStat());
        Assert.Equal(0, whole.Remaining);

        for (int cut = 0; cut < frame.Length; cut++)
        {
            var ex = Assert.Throws<ZkException>(() =>
            {
                var r = new JuteReader(frame.AsSpan(0, cut));
                ZkProtocol.ReadReplyHeader(ref r);
                r.ReadStringVector();
                r.ReadStat();
            });
            Assert.StartsWith("malformed reply: ", ex.Message);
        }
    }

    [Fact]
    public void AbsurdLengthsAreRejectedBeforeAnythingIsAllocated()
    {
        Assert.Equal(0, ZkProtocol.FrameLength([0, 0, 0, 0]));
        Assert.Equal(64 << 20, ZkProtocol.FrameLength([4, 0, 0, 0]));
        var over = Assert.Throws<ZkException>(() => ZkProtocol.FrameLength([4, 0, 0, 1]));
        Assert.Equal("it sent 04 00 00 01 where a frame length belongs (67108865 bytes; the limit is 64 MiB)", over.Message);
        Assert.Throws<ZkException>(() => ZkProtocol.FrameLength([0x80, 0, 0, 0]));

        // A vector that claims a billion elements in a 12-byte frame, a string longer than the frame, a negative buffer.
        Assert.Contains("vector of 1000000000 strings", Assert.Throws<ZkException>(() => new JuteReader([0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]).ReadStringVector()).Message);
        Assert.Contains("string length 9", Assert.Throws<ZkException>(() => new JuteReader([0, 0, 0, 9, 65, 66]).ReadString()).Message);
        Assert.Contains("buffer length -2", Assert.Throws<ZkException>(() => new JuteReader([0xff, 0xff, 0xff, 0xfe]).ReadBuffer().ToArray()).Message);
        Assert.Null(new JuteReader([0xff, 0xff, 0xff, 0xff]).ReadString());       // -1 is jute's null
        Assert.Empty(new JuteReader([0xff, 0xff, 0xff, 0xff]).ReadStringVector());
    }
}
