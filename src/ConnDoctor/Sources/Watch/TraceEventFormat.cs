
namespace ConnDoctor.Sources.Watch;

/// <summary>
/// One tracepoint's record layout, read from its tracefs `format` file: the event id that opens each record
/// (common_type), every field's offset and size, and the value names of its __print_symbolic() maps. The binary
/// reader takes every offset from here, never from a constant, so a kernel that moves a field is read right or,
/// when a field it needs is missing, not read in binary at all.
/// </summary>
internal sealed class TraceEventFormat
{
    public required int Id { get; init; }
    public required string Name { get; init; }
    public required Dictionary<string, (int Offset, int Size)> Fields { get; init; }
    /// <summary>field -> value -> name, from "__print_symbolic(REC->field, { 1, "NAME" }, ...)" (numeric values only).</summary>
    public required Dictionary<string, Dictionary<long, string>> Symbols { get; init; }

    public bool Has(string field, int size) => Fields.TryGetValue(field, out var f) && f.Size == size;

    /// <summary>
    /// "name: X", "ID: N", "\tfield:TYPE NAME[LEN];\toffset:N;\tsize:N;\tsigned:N;" lines and "print fmt: ...".
    /// Null with a reason when the text is not such a file.
    /// </summary>
    public static TraceEventFormat? Parse(string text, out string? reason)
    {
        reason = null;
        int id = -1;
        string name = "";
        var fields = new Dictionary<string, (int, int)>();
        var symbols = new Dictionary<string, Dictionary<long, string>>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("name:")) name = line[5..].Trim();
            else if (line.StartsWith("ID:") && int.TryParse(line[3..].Trim(), out int v)) id = v;
            else if (line.StartsWith("field:"))
            {
                if (!TryField(line, out string field, out int offset, out int size)) { reason = $"unreadable field line \"{line}\""; return null; }
                fields[field] = (offset, size);
            }
            else if (line.StartsWith("print fmt:")) ParseSymbols(line, symbols);
        }
        if (id < 0) { reason = "no ID line"; return null; }
        if (!fields.ContainsKey("common_type")) { reason = "no common_type field"; return null; }
        return new TraceEventFormat { Id = id, Name = name, Fields = fields, Symbols = symbols };
    }

    /// <summary>"field:int oldstate;	offset:16;	size:4;	signed:1;" (tabs or spaces between the parts).</summary>
    internal static bool TryField(string line, out string name, out int offset, out int size)
    {
        name = "";
        offset = size = -1;
        var parts = line.Split(';');
        if (parts.Length < 3) return false;
        var decl = parts[0]["field:".Length..].Trim();
        int bracket = decl.IndexOf('[');
        if (bracket >= 0) decl = decl[..bracket];
        int sp = decl.LastIndexOfAny([' ', '\t', '*']);
        name = (sp >= 0 ? decl[(sp + 1)..] : decl).Trim();
        foreach (var p in parts[1..])
        {
            var kv = p.Trim();
            if (kv.StartsWith("offset:") && int.TryParse(kv[7..], out int o)) offset = o;
            else if (kv.StartsWith("size:") && int.TryParse(kv[5..], out int s)) size = s;
        }
        return name.Length > 0 && offset >= 0 && size > 0;
    }

    /// <summary>Every "__print_symbolic(REC->field, { N, "NAME" }, ...)" of the print format; symbolic values (TCP_CLOSE) are skipped.</summary>
    internal static void ParseSymbols(string fmt, Dictionary<string, Dictionary<long, string>> into)
    {
        const string Tag = "__print_symbolic(REC->";
        int at = 0;
        while ((at = fmt.IndexOf(Tag, at, StringComparison.Ordinal)) >= 0)
        {
            at += Tag.Length;
            int comma = fmt.IndexOf(',', at);
            if (comma < 0) return;
            string field = fmt[at..comma].Trim();
            var map = new Dictionary<long, string>();
            int i = comma;
            // Pairs until the closing parenthesis of this call: "{ 1, "TCP_ESTABLISHED" }".
            while (i < fmt.Length && fmt[i] != ')')
            {
                if (fmt[i] != '{') { i++; continue; }
                int close = fmt.IndexOf('}', i);
                if (close < 0) return;
                var pair = fmt[(i + 1)..close];
                int c = pair.IndexOf(',');
                if (c > 0 && long.TryParse(pair[..c].Trim(), out long value))
                {
                    var label = pair[(c + 1)..].Trim();
                    if (label.Length >= 2 && label[0] == '"' && label[^1] == '"') map.TryAdd(value, label[1..^1]);
                }
                i = close + 1;
            }
            if (map.Count > 0) into.TryAdd(field, map);
            at = i;
        }
    }
}

/// <summary>
/// The ring buffer's page and record headers as this kernel describes them (events/header_page, events/header_event):
/// a page is a u64 time stamp, a commit word (bytes of data, flag bits for events lost before the page) and the data.
/// </summary>
internal sealed record RingBufferLayout(int TimestampOffset, int CommitOffset, int CommitSize, int DataOffset, int DataSize)
{
    public int PageSize => DataOffset + DataSize;

    /// <summary>Null with a reason when either file is not in the form this reader walks (kernel/trace/ring_buffer.c since 2.6.3x).</summary>
    public static RingBufferLayout? Parse(string headerPage, string headerEvent, out string? reason)
    {
        reason = null;
        var f = new Dictionary<string, (int Offset, int Size)>();
        foreach (var raw in headerPage.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("field:") && TraceEventFormat.TryField(line, out string name, out int off, out int size)) f.TryAdd(name, (off, size));
        }
        if (!f.TryGetValue("timestamp", out var ts) || ts.Size != 8) { reason = "header_page has no 8-byte timestamp"; return null; }
        if (!f.TryGetValue("commit", out var commit) || commit.Size is not (4 or 8)) { reason = "header_page has no commit word"; return null; }
        if (!f.TryGetValue("data", out var data) || data.Size < 64 || data.Offset + data.Size > 1 << 24) { reason = "header_page has no data field"; return null; }
        // The compressed record header: 5 bits of type_len, 27 of time delta; 29 padding, 30 time extend, 31 absolute time, data up to 28.
        string[] expected = ["type_len    :    5 bits", "time_delta  :   27 bits", "padding     : type == 29", "time_extend : type == 30", "data max type_len  == 28"];
        var lines = headerEvent.Split('\n').Select(l => l.Trim()).ToHashSet();
        foreach (var e in expected)
            if (!lines.Contains(e)) { reason = $"header_event lacks \"{e}\""; return null; }
        return new RingBufferLayout(ts.Offset, commit.Offset, commit.Size, data.Offset, data.Size);
    }
}
