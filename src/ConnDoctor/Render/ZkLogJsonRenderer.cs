using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`zklog --json`: every client, message kind and minute, then rules and findings.</summary>
public static class ZkLogJsonRenderer
{
    public static void Render(ZkLogReport r, Stream output)
    {
        var log = r.Log;
        using var w = JsonCommon.CreateWriter(output);
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "zklog", r.Diagnosis.Host, r.Diagnosis.CollectedAt);
        JsonCommon.WriteSources(w, r.Diagnosis.Sources);
        w.WriteStartArray("files");
        foreach (var f in log.Files) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteStartArray("layouts");
        foreach (var l in log.Layouts)
        {
            w.WriteStartObject();
            w.WriteString("file", l.File);
            w.WriteString("layout", l.Layout);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("lines", log.Lines);
        w.WriteNumber("bytes", log.Bytes);
        w.WriteNumber("recognisedLines", log.RecognisedLines);
        w.WriteNumber("unrecognisedLines", log.UnrecognisedLines);
        w.WriteStartArray("unrecognisedSamples");
        foreach (var s in log.UnrecognisedSamples) w.WriteStringValue(s);
        w.WriteEndArray();
        w.WriteNumber("outsideWindowLines", log.OutsideWindowLines);
        w.WriteBoolean("acceptsLogged", log.AcceptsLogged);
        if (log.First is DateTime first) w.WriteString("first", Time(first));
        if (log.Last is DateTime last) w.WriteString("last", Time(last));
        w.WriteNumber("endsOfStreamUnattributed", log.EndsOfStreamUnattributed);
        w.WriteNumber("sessionsExpiredUnattributed", log.SessionsExpiredUnattributed);
        w.WriteNumber("leadingTraceLines", log.LeadingTraceLines);
        w.WriteNumber("timeStepsBack", log.TimeStepsBack);
        w.WriteStartArray("servers");
        foreach (var x in log.Servers)
        {
            w.WriteStartObject();
            w.WriteString("server", x.Server);
            w.WriteNumber("lines", x.Lines);
            if (x.First is DateTime sf) w.WriteString("first", Time(sf));
            if (x.Last is DateTime sl) w.WriteString("last", Time(sl));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Span<byte> stamp = stackalloc byte[23];   // a port's time, written as digits
        w.WriteStartArray("clients");
        foreach (var c in log.Clients)
        {
            w.WriteStartObject();
            w.WriteString("ip", ZkLogTerminalRenderer.Client(c.Ip));
            w.WriteNumber("connections", c.Connections(log.AcceptsLogged));
            w.WriteNumber("accepted", c.Accepted);
            w.WriteNumber("endOfStreamNoSession", c.EndOfStreamNoSession);
            w.WriteNumber("endOfStreamWithSession", c.EndOfStreamWithSession);
            w.WriteNumber("closedNoSession", c.ClosedNoSession);
            w.WriteNumber("closedWithSession", c.ClosedWithSession);
            w.WriteNumber("refused", c.Refused);
            if (c.RefusedLimit is int max) w.WriteNumber("maxClientCnxns", max);
            w.WriteNumber("sessionAttempts", c.SessionAttempts);
            w.WriteNumber("sessionsEstablished", c.SessionsEstablished);
            w.WriteNumber("sessionsExpired", c.SessionsExpired);
            w.WriteNumber("fourLetterWords", c.FourLetterWords);
            w.WriteNumber("peakPerMinute", c.PeakPerMinute);
            w.WriteNumber("shareWithoutSession", Math.Round(c.ShareWithoutSession, 4));
            w.WriteString("firstSeen", Time(c.FirstSeen));
            w.WriteString("lastSeen", Time(c.LastSeen));
            if (c.FirstRefused is DateTime fr) w.WriteString("firstRefused", Time(fr));
            if (c.LastRefused is DateTime lr) w.WriteString("lastRefused", Time(lr));
            // The client ports of its latest connection ends (the cross-host join's sample), oldest first, with the
            // log's time to the millisecond: a port is reused, the time says which connection the line was about.
            w.WriteStartArray(PortsName);
            foreach (var p in c.Ports)
            {
                w.WriteStartObject();
                w.WriteNumber(PortName, p.Port);
                w.WriteString(TimeName, Millis(p.Time, stamp));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            JsonCommon.FlushEvery64K(w);
        }
        w.WriteEndArray();
        w.WriteStartArray("kinds");
        foreach (var k in log.Kinds)
        {
            w.WriteStartObject();
            w.WriteString("kind", k.Kind);
            w.WriteNumber("lines", k.Lines);
            w.WriteNumber("bytes", k.Bytes);
            w.WriteNumber("share", log.Bytes == 0 ? 0 : Math.Round((double)k.Bytes / log.Bytes, 4));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("timeline");
        foreach (var m in log.Timeline)
        {
            w.WriteStartObject();
            w.WriteString("minute", m.Minute.ToString("yyyy-MM-ddTHH:mm"));
            w.WriteNumber("lines", m.Lines);
            w.WriteNumber("bytes", m.Bytes);
            w.WriteNumber("connections", m.Connections);
            w.WriteNumber("endsOfStream", m.EndsOfStream);
            w.WriteNumber("refused", m.Refused);
            w.WriteNumber("sessionsEstablished", m.SessionsEstablished);
            w.WriteNumber("sessionsExpired", m.SessionsExpired);
            w.WriteEndObject();
            JsonCommon.FlushEvery64K(w);
        }
        w.WriteEndArray();
        DiagnoseJsonRenderer.WriteRulesAndFindings(w, r.Diagnosis);
        w.WriteEndObject();
        w.Flush();
    }

    // The log's local time, as written in the log (no zone: ZooKeeper does not print one).
    private static string Time(DateTime t) => t.ToString("yyyy-MM-ddTHH:mm:ss");

    private static readonly JsonEncodedText PortsName = JsonEncodedText.Encode("ports"), PortName = JsonEncodedText.Encode("port"),
        TimeName = JsonEncodedText.Encode("time");

    /// <summary>
    /// "yyyy-MM-ddTHH:mm:ss.fff" written as digits into <paramref name="b"/> (23 bytes): up to 64 per client IP, where a
    /// formatted string each cost more than reading the log's ends did.
    /// </summary>
    private static ReadOnlySpan<byte> Millis(DateTime t, Span<byte> b)
    {
        static void Two(Span<byte> d, int at, int v) { d[at] = (byte)('0' + v / 10); d[at + 1] = (byte)('0' + v % 10); }
        int year = t.Year;
        b[0] = (byte)('0' + year / 1000 % 10); b[1] = (byte)('0' + year / 100 % 10); Two(b, 2, year % 100);
        b[4] = (byte)'-'; Two(b, 5, t.Month); b[7] = (byte)'-'; Two(b, 8, t.Day);
        b[10] = (byte)'T'; Two(b, 11, t.Hour); b[13] = (byte)':'; Two(b, 14, t.Minute); b[16] = (byte)':'; Two(b, 17, t.Second);
        b[19] = (byte)'.'; int ms = t.Millisecond; b[20] = (byte)('0' + ms / 100); Two(b, 21, ms % 100);
        return b[..23];
    }
}
