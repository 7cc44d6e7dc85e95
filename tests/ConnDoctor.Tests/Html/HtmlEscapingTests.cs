using System.Net;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Tests.Render;

namespace ConnDoctor.Tests.Html;

/// <summary>
/// Text the world chooses (process names, command lines, log lines, file paths, a chain's cause) never breaks a page:
/// fuzzed with markup characters, quotes, control characters and lone surrogates, each page is read by the strict
/// <see cref="HtmlStructure"/> reader, has exactly the shape of the same page with plain text, and shows the text as
/// the terminal does (controls as \xNN escapes).
/// </summary>
public class HtmlEscapingTests
{
    private static readonly string[] Pieces =
    [
        "<", ">", "&", "\"", "'", "&amp;", "&#0;", "</script>", "<script>alert(1)</script>", "<!--", "-->", "]]>", "<svg onload=x>", "</pre>", "</td></tr>",
        "\0", "\x1b[31m", "\n", "\r", "\t", "\x7f", "\u009b", "\uD800", "\uDFFF", "\uDBFF\uDFFF", "😀", "\uFFFE", "\uFFFF", "é", " ", "a", "java", "/var/log/zk.log",
    ];

    private static string Fuzz(Random r, int parts) => string.Concat(Enumerable.Range(0, parts).Select(_ => Pieces[r.Next(Pieces.Length)]));

    /// <summary>What a reader sees for a text: an independent statement of the escaping rule.</summary>
    private static string Visible(string s)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { sb.Append(c).Append(s[++i]); continue; }
            if (char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF') sb.Append('\uFFFD');
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\t') sb.Append("\\t");
            else if (c == '\r') sb.Append("\\r");
            else if (c < ' ' || c is >= '\x7f' and <= '\x9f') sb.Append($"\\x{(int)c:x2}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    [Fact]
    public void EscapedTextDecodesToWhatTheTerminalShows()
    {
        var r = new Random(24);
        for (int i = 0; i < 2000; i++)
        {
            string s = Fuzz(r, r.Next(0, 12));
            string e = HtmlWriter.Escape(s);
            Assert.DoesNotContain('<', e);
            Assert.DoesNotContain('>', e);
            Assert.DoesNotContain('"', e);
            Assert.DoesNotContain('\'', e);
            Assert.All(e, c => Assert.False(c < ' ' || c is >= '\x7f' and <= '\x9f' || c is '\uFFFE' or '\uFFFF'));
            Assert.Equal(Visible(s), WebUtility.HtmlDecode(e));
            // Valid UTF-16, so UTF-8 encodes it without loss.
            Assert.Equal(e, new UTF8Encoding(false, true).GetString(new UTF8Encoding(false, true).GetBytes(e)));
        }
    }

    private static Finding Fuzzed(string name, string command, string line) => new()
    {
        RuleId = "reconnect-storm", Severity = Severity.Critical,
        Subject = new FindingSubject { Pid = 7, Process = name, CommandLine = command, RemoteEndpoint = "10.0.0.5:2181" },
        Summary = $"{name} reconnects", Evidence = [line, $"log {line}"], Cause = $"cause {line}", Remedy = $"kill {name}",
        Parts = [new FindingPart("zklog", line, [line], name)],
    };

    private static DiagnoseReport Diagnose(string name, string command, string line) => DiagnoseHostGoldenTests.Report() with
    {
        Host = name,
        Findings = [Fuzzed(name, command, line), .. DiagnoseHostGoldenTests.Report().Findings],
        Sources = [new SourceStatus("zklog:" + line, SourceState.Partial, line)],
        Notes = [line],
        Overview = line,
    };

    [Fact]
    public void FuzzedPagesKeepTheirShape()
    {
        string plainDiagnose = HtmlStructure.Shape(HtmlStructure.Parse(DiagnoseHtmlRenderer.Page(Diagnose("java", "java -jar a.jar", "a line"), null)));
        string plainWatch = HtmlStructure.Shape(HtmlStructure.Parse(WatchHtmlRenderer.Page(HtmlReports.Watch("curl", "curl x"))));
        string plainFleet = HtmlStructure.Shape(HtmlStructure.Parse(FleetHtmlRenderer.Page(HtmlReports.Fleet("java[1]", "cause"))));
        var zklog = ZkLogRendererGoldenTests.Report();
        string plainZkLog = HtmlStructure.Shape(HtmlStructure.Parse(ZkLogHtmlRenderer.Page(zklog with { Log = zklog.Log with { Files = ["zk.log"], UnrecognisedLines = 1, UnrecognisedSamples = ["x"] } })));
        var r = new Random(2024);
        for (int i = 0; i < 25; i++)
        {
            string name = Fuzz(r, r.Next(1, 6)), command = Fuzz(r, r.Next(1, 10)), line = Fuzz(r, r.Next(1, 10));

            var d = HtmlGoldenTests.CheckPage(DiagnoseHtmlRenderer.Page(Diagnose(name, command, line), null));
            Assert.Equal(plainDiagnose, HtmlStructure.Shape(d));
            var finding = d.First(e => e.Attr("id") == "finding-1");
            Assert.Equal(Visible(command), d.SkipWhile(e => e != finding).First(e => e.Tag == "pre").Text.ToString());
            Assert.Contains(d, e => e.Tag == "td" && e.Text.ToString() == Visible("zklog:" + line));

            var w = HtmlGoldenTests.CheckPage(WatchHtmlRenderer.Page(HtmlReports.Watch(name, command)));
            Assert.Equal(plainWatch, HtmlStructure.Shape(w));
            Assert.Contains(w, e => e.Tag == "td" && e.Text.ToString() == Visible(command));

            var f = HtmlGoldenTests.CheckPage(FleetHtmlRenderer.Page(HtmlReports.Fleet(name, line)));
            Assert.Equal(plainFleet, HtmlStructure.Shape(f));
            Assert.Contains(f, e => e.Attr("data-link") == "cause" && e.Text.ToString() == "cause" + Visible(line));

            // A log's file name and an unrecognised line are the world's too.
            var z = HtmlGoldenTests.CheckPage(ZkLogHtmlRenderer.Page(zklog with { Log = zklog.Log with { Files = [line], UnrecognisedLines = 1, UnrecognisedSamples = [command] } }));
            Assert.Equal(plainZkLog, HtmlStructure.Shape(z));
            Assert.Contains(z, e => e.Tag == "dd" && e.Text.ToString() == Visible(line));
        }
    }
}
