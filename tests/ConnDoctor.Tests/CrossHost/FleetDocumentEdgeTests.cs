using System.IO.Compression;
using System.Text;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>
/// The document edges through the published binary, with documents `collect` really wrote: a server and a
/// client namespace that share connections, an unrelated namespace (in no join), the same namespace collected twice
/// (the same host), an older schema version and a cut gzip among good documents. Each gives one clear line: a note in
/// a report that still diagnoses the rest, or a one-line error with exit code 1; never a trace.
/// </summary>
public sealed class FleetDocumentEdgeTests
{
    private static (int Code, string Stdout, string Stderr) Cd(params string[] args) =>
        Shell.RunFull(FleetLab.Binary, args, check: false, timeoutMs: 120_000);

    [Fact]
    public void TheSameHostTwiceAHostInNoJoinAnOlderSchemaAndACutGzipEachGiveOneClearLine()
    {
        using var srv = new TestNetns("es");
        using var cli = new TestNetns("ec");
        using var lone = new TestNetns("el");
        using var lonePeer = new TestNetns("ep");
        TestNetns.Link(srv, cli, "10.46.1.1", "10.46.1.2");
        TestNetns.Link(lone, lonePeer, "10.46.9.1", "10.46.9.2");
        srv.StartScenario("server", "--listen", "10.46.1.1:2181:hold");
        cli.StartScenario("good", "--connect", "10.46.1.1:2181", "--count", "2");
        Thread.Sleep(500);
        var made = new List<string>();
        string Collect(TestNetns ns, string name)
        {
            string f = Path.Combine(Path.GetTempPath(), $"cd-edge-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}.json.gz");
            made.Add(f);
            var r = Cd("collect", "--netns", ns.Name, "--no-app-logs", "-o", f);
            Assert.True(r.Code == 0, r.Stderr);
            return f;
        }
        try
        {
            string s = Collect(srv, "srv"), c = Collect(cli, "cli"), c2 = Collect(cli, "cli-again"), l = Collect(lone, "lone");

            // The same namespace collected twice: one note, the newer kept; an unrelated namespace: one note; the join still made.
            var r = Cd("diagnose", "--json", "--from", s, c, c2, l);
            Assert.True(r.Code == 0, r.Stderr);
            using (var d = JsonDocument.Parse(r.Stdout))
            {
                var notes = d.RootElement.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!).ToList();
                var same = Assert.Single(notes, n => n.StartsWith("two documents are of the same host"));
                Assert.Contains("10.46.1.2", same);
                var noJoin = Assert.Single(notes, n => n.Contains("in no join"));
                Assert.Contains("10.46.9.1", noJoin);
                Assert.Equal(3, d.RootElement.GetProperty("hosts").GetArrayLength());
                Assert.DoesNotContain(notes, n => n.Contains("10.46.1.1") && n.Contains("in no join"));
            }
            var text = Cd("diagnose", "--from", s, c, c2, l);
            Assert.True(text.Code == 0, text.Stderr);
            Assert.Contains("two documents are of the same host", text.Stdout);
            Assert.Contains("in no join", text.Stdout);
            Assert.DoesNotContain("   at ", text.Stdout + text.Stderr);

            // A document of an older schema version among good ones, and a cut gzip: one line each, exit 1.
            string json;
            using (var gz = new GZipStream(File.OpenRead(c), CompressionMode.Decompress))
            using (var rd = new StreamReader(gz, Encoding.UTF8)) json = rd.ReadToEnd();
            Assert.Contains("\"schemaVersion\":1,", json);
            string old = Path.Combine(Path.GetTempPath(), $"cd-edge-old-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
            made.Add(old);
            File.WriteAllText(old, json.Replace("\"schemaVersion\":1,", "\"schemaVersion\":0,"));
            string cut = Path.Combine(Path.GetTempPath(), $"cd-edge-cut-{Environment.ProcessId}-{Guid.NewGuid():N}.json.gz");
            made.Add(cut);
            var bytes = File.ReadAllBytes(s);
            File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
            foreach (var (bad, says) in new[] { (old, "schema version 0 is older than this build reads (version 1)"), (cut, "gzip data is cut short") })
            {
                var e = Cd("diagnose", "--from", s, bad, l);
                Assert.Equal(1, e.Code);
                Assert.Equal("", e.Stdout);
                var line = Assert.Single(e.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.Contains(says, line);
                Assert.Contains(Path.GetFileName(bad), line);
            }
        }
        finally { foreach (var f in made) { try { File.Delete(f); } catch (IOException) { } } }
    }
}
