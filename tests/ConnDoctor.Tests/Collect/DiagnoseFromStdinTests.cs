using System.IO.Compression;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Collect;

/// <summary>
/// `diagnose --from -` through the published binary, as an operator pipes it (`ssh host conndoctor collect |
/// conndoctor diagnose --from -`): documents `collect` really wrote in two namespaces that share connections, fed on
/// stdin gzip'd and plain, alone and beside a file, give the report `--from FILE` gives of the same bytes; `-` twice,
/// an empty stdin and garbage each give one line, never a hang or a trace.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DiagnoseFromStdinTests
{
    private static byte[] Gunzip(byte[] gz)
    {
        using var z = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        var ms = new MemoryStream();
        z.CopyTo(ms);
        return ms.ToArray();
    }

    private static List<string> Findings(JsonElement report) => report.GetProperty("findings").EnumerateArray()
        .Select(f => $"{f.GetProperty("ruleId").GetString()} {f.GetProperty("severity").GetString()} {f.GetProperty("subject")} {f.GetProperty("summary").GetString()}").ToList();

    private static void OneLine(CliRunner.Result r, int code, string says)
    {
        Assert.True(r.Code == code, $"exit {r.Code}: {r.Stderr}");
        Assert.Equal("", r.Stdout);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("conndoctor: ", line);
        Assert.Contains(says, line);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void ADocumentOnStdinGzipdOrPlainGivesTheReportOfTheSameFile()
    {
        using var srv = new TestNetns("fs");
        using var cli = new TestNetns("fc");
        TestNetns.Link(srv, cli, "10.47.1.1", "10.47.1.2");
        srv.StartScenario("server", "--listen", "10.47.1.1:2181:hold", "--listen", "127.0.0.1:9001:close");
        var leaky = srv.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", "11");   // a close-wait-leak to find
        cli.StartScenario("good", "--connect", "10.47.1.1:2181", "--count", "2");
        var made = new List<string>();
        string Collect(TestNetns ns)
        {
            string f = Path.Combine(Path.GetTempPath(), $"cd-stdin-{ns.Name}-{Environment.ProcessId}-{Guid.NewGuid():N}.json.gz");
            made.Add(f);
            var r = CliRunner.RunBinary(null, ["collect", "--netns", ns.Name, "--no-app-logs", "-o", f]);
            Assert.True(r.Code == 0, r.Stderr);
            return f;
        }
        try
        {
            string s = Collect(srv), c = Collect(cli);
            byte[] gz = File.ReadAllBytes(s), plain = Gunzip(gz);
            Assert.Equal((byte)'{', plain[0]);

            // One document: the same report, byte for byte, whichever way it arrives.
            var file = CliRunner.RunBinary(null, ["diagnose", "--json", "--from", s]);
            Assert.True(file.Code == 0, file.Stderr);
            using (var d = file.Json())
            {
                Assert.Contains(Findings(d.RootElement), f => f.StartsWith("close-wait-leak ") && f.Contains($"{leaky.Id}"));
            }
            foreach (var (bytes, how) in new[] { (gz, "gzip"), (plain, "plain") })
            {
                var piped = CliRunner.RunBinary(bytes, ["diagnose", "--json", "--from", "-"]);
                Assert.True(piped.Code == 0, $"{how}: {piped.Stderr}");
                Assert.Equal(file.Stdout, piped.Stdout);
                Assert.Equal(file.Stderr, piped.Stderr);
                // The terminal report too.
                Assert.Equal(CliRunner.RunBinary(null, ["diagnose", "--from", s]).Stdout, CliRunner.RunBinary(bytes, ["diagnose", "--from", "-"]).Stdout);
                // And the CLI in-process, given the same stdin.
                var inProcess = CliRunner.RunWithStdin(bytes, "diagnose", "--json", "--from", "-");
                Assert.True(inProcess.Code == 0, inProcess.Stderr);
                using var a = file.Json();
                using var b = inProcess.Json();
                Assert.Equal(Findings(a.RootElement), Findings(b.RootElement));
            }

            // Two documents, one of them on stdin: the same hosts and findings, host by host and across them.
            var both = CliRunner.RunBinary(null, ["diagnose", "--json", "--from", s, c]);
            Assert.True(both.Code == 0, both.Stderr);
            using (var d = both.Json())
            {
                var hosts = d.RootElement.GetProperty("hosts").EnumerateArray().ToList();
                Assert.Equal(2, hosts.Count);
                Assert.DoesNotContain(d.RootElement.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("in no join"));
            }
            foreach (var (bytes, how) in new[] { (gz, "gzip"), (plain, "plain") })
            {
                var piped = CliRunner.RunBinary(bytes, ["diagnose", "--json", "--from", "-", c]);
                Assert.True(piped.Code == 0, $"{how}: {piped.Stderr}");
                Assert.Equal(both.Stdout, piped.Stdout);
            }

            // `-` twice: stdin cannot be read twice; one line, exit 2 (usage), whether in one --from or two.
            OneLine(CliRunner.RunBinary(gz, ["diagnose", "--from", "-", "-"]), 2, "--from - (stdin) can be given once");
            OneLine(CliRunner.RunBinary(gz, ["diagnose", "--from", "-", "--from", "-"]), 2, "--from - (stdin) can be given once");
            OneLine(CliRunner.RunBinary(gz, ["diagnose", "--from", "-", c, "-"]), 2, "--from - (stdin) can be given once");
            // Nothing on stdin, or not a document: one line naming stdin, exit 1.
            OneLine(CliRunner.RunBinary([], ["diagnose", "--from", "-"]), 1, "stdin");
            OneLine(CliRunner.RunBinary("not a document\n"u8.ToArray(), ["diagnose", "--from", "-", c]), 1, "stdin");
            OneLine(CliRunner.RunBinary(gz[..(gz.Length / 2)], ["diagnose", "--from", "-"]), 1, "stdin");
        }
        finally
        {
            foreach (var f in made) File.Delete(f);
        }
    }
}
