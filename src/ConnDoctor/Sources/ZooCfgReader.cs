using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources;

/// <summary>
/// Reads a ZooKeeper zoo.cfg the way ZooKeeper does (java.util.Properties: KEY=VALUE, KEY:VALUE or KEY VALUE,
/// # and ! comments, trimmed, the last of a repeated key wins). A line ZooKeeper would choke on is an error
/// naming the file and line, never a guess.
/// </summary>
public static class ZooCfgReader
{
    /// <summary>Settings ZooKeeper parses as integers: a non-number there makes it refuse to start.</summary>
    private static readonly HashSet<string> Numeric =
    [
        "tickTime", "initLimit", "syncLimit", "clientPort", "secureClientPort", "maxClientCnxns", "minSessionTimeout",
        "maxSessionTimeout", "clientPortListenBacklog", "admin.serverPort", "autopurge.snapRetainCount", "autopurge.purgeInterval",
    ];

    /// <summary>Far larger than any real zoo.cfg (a few KiB with a hundred servers).</summary>
    private const long MaxBytes = 1 << 20;

    public static ZooCfg Read(string path)
    {
        if (path.Length == 0) throw new UserException("--zoo-cfg needs a path to a zoo.cfg");
        if (Directory.Exists(path)) throw new UserException($"{path} is a directory, not a zoo.cfg");
        var info = new FileInfo(path);
        if (!info.Exists) throw new UserException($"zoo.cfg {path} does not exist");
        // A pipe, a device or a /proc file reports size 0: reading one could block or never end, and none is a zoo.cfg.
        if (info.Length == 0) throw new UserException($"{path} is empty or not a regular file: not a zoo.cfg");
        if (info.Length > MaxBytes) throw new UserException($"{path} is {Format.Bytes(info.Length)}: too large for a zoo.cfg");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new UserException($"cannot read {path}: {ex.Message}"); }
        return Parse(text, path);
    }

    public static ZooCfg Parse(string text, string path)
    {
        var entries = new Dictionary<string, ZooCfgEntry>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int number = i + 1;
            string line = lines[i].TrimEnd('\r').TrimStart();
            if (IsBinary(line)) throw new UserException($"{path}:{number}: binary data: this is not a zoo.cfg");
            // A line ending in an odd number of backslashes continues on the next (Properties' rule).
            while (TrailingBackslashes(line) % 2 == 1 && i + 1 < lines.Length) line = line[..^1] + lines[++i].TrimEnd('\r').TrimStart();
            if (line.Length == 0 || line[0] is '#' or '!') continue;
            int sep = line.IndexOfAny(['=', ':', ' ', '\t']);
            string key = (sep < 0 ? line : line[..sep]).Trim();
            string value = sep < 0 ? "" : line[(sep + 1)..].Trim();
            if (sep >= 0 && line[sep] is ' ' or '\t' && value.Length > 0 && value[0] is '=' or ':') value = value[1..].Trim();
            if (key.Length == 0) throw new UserException($"{path}:{number}: '{Shorten(line)}' has no key (KEY=VALUE expected)");
            if (sep < 0 || value.Length == 0 && Numeric.Contains(key))
                throw new UserException($"{path}:{number}: '{Shorten(line)}' has no value (KEY=VALUE expected)");
            if (Numeric.Contains(key) && !int.TryParse(value, out _))
                throw new UserException($"{path}:{number}: {key}={Shorten(value)} is not a number (ZooKeeper would refuse to start)");
            entries[key] = new ZooCfgEntry(key, value, number);
        }
        return new ZooCfg { Path = path, Entries = entries };
    }

    /// <summary>Control characters or bytes that are not UTF-8 (decoded as U+FFFD): no text editor wrote this line.</summary>
    private static bool IsBinary(string line)
    {
        foreach (char c in line)
            if (c == '\uFFFD' || char.IsControl(c) && c is not ('\t' or '\f')) return true;
        return false;
    }

    private static int TrailingBackslashes(string s)
    {
        int n = 0;
        for (int i = s.Length - 1; i >= 0 && s[i] == '\\'; i--) n++;
        return n;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";
}
