namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Tells a gzip file made of several members (`cat a.gz b.gz`, or a shipper that appends a member per flush) from a
/// truncated one, when the text that came out differs from the size the file's last 8 bytes record: in a file of
/// members, those bytes are the last member's CRC-32 and size, so the last ISIZE bytes of the text must have that CRC.
/// </summary>
internal static class GzipMembers
{
    private static readonly uint[] Table = MakeTable();

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>Whether the file's trailer is a gzip member trailer for the last bytes of the <paramref name="produced"/> bytes of text.</summary>
    public static bool LastMemberChecks(string path, long length, long produced)
    {
        if (length < 18) return false;
        Span<byte> tail = stackalloc byte[8];
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (RandomAccess.Read(h, tail, length - 8) != 8) return false;
        uint crc = BitConverter.ToUInt32(tail), isize = BitConverter.ToUInt32(tail[4..]);
        if (isize > produced || isize == produced) return false;      // a single member that came out whole would have matched
        long skip = produced - isize;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            using var z = new System.IO.Compression.GZipStream(fs, System.IO.Compression.CompressionMode.Decompress);
            var buf = new byte[1 << 20];
            uint c = 0xFFFFFFFFu;
            long at = 0;
            int n;
            while ((n = z.Read(buf)) > 0)
            {
                int from = (int)Math.Clamp(skip - at, 0, n);
                for (int i = from; i < n; i++) c = Table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
                at += n;
            }
            return ~c == crc;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException) { return false; }
    }
}
