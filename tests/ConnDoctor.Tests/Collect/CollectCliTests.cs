using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConnDoctor.Tests.Diagnose;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Collect;

/// <summary>
/// `collect` and `diagnose --from` as users run them: a document collected in a namespace gives the findings live
/// `diagnose` gives there; secrets on real command lines are masked unless --no-redact; every bad document (older or
/// newer schema, a cut gzip, a cut JSON, garbage, a part missing, another tool's JSON) and every bad URL (401 without
/// the token, 404, nothing listening) is one line and exit code 1, never a trace.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CollectCliTests
{
    private static string Temp(string suffix) => Path.Combine(Path.GetTempPath(), $"cd-collect-{Environment.ProcessId}-{Guid.NewGuid():N}{suffix}");

    /// <summary>What a finding says, without the numbers that move between two runs a second apart (ages, rates).</summary>
    private static List<string> Findings(JsonDocument d) => d.RootElement.GetProperty("findings").EnumerateArray()
        .Select(f => $"{f.GetProperty("ruleId").GetString()} {f.GetProperty("severity").GetString()} {f.GetProperty("subject")}")
        .Order().ToList();

    [Fact]
    public void ACollectedDocumentDiagnosesAsTheLiveHostDoes()
    {
        using var ns = new TestNetns("ccl");
        using var zk = new ZooKeeperServer(maxClientCnxns: 10, netns: ns, host: "127.0.0.1");
        using var holder = new ZkClients(ns, zk.Address, "hold", "--source", "127.0.0.3", "--count", "10", "--extra", "4", "--gap", "0.1", "--keep-open", "90");
        holder.WaitFor(l => l.Contains("held"));
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        string log = Temp(".out");
        DiagnoseAppLogTests.Preface(log);
        var (leaky, leakyPid) = DiagnoseAppLogTests.StartWithLogFile(ns, log, null, "leaky", "--connect", "127.0.0.1:9001", "--count", "12");
        string doc = Temp(".json.gz");
        try
        {
            var c = CliRunner.Run("collect", "--netns", ns.Name, "--output", doc);
            Assert.True(c.Code == 0, c.Stderr);
            Assert.Equal("", c.Stdout);
            Assert.StartsWith($"wrote {doc}: ", c.Stderr);
            var live = CliRunner.Run("diagnose", "--json", "--netns", ns.Name);
            var from = CliRunner.Run("diagnose", "--json", "--from", doc);
            Assert.True(live.Code == 0, live.Stderr);
            Assert.True(from.Code == 0, from.Stderr);
            using var l = live.Json();
            using var f = from.Json();
            Assert.Equal(Findings(l), Findings(f));
            Assert.Contains(Findings(f), x => x.StartsWith("close-wait-leak ") && x.Contains($"{leakyPid}"));
            Assert.Contains(Findings(f), x => x.StartsWith("connection-limit critical"));
            Assert.Equal(l.RootElement.GetProperty("overview").GetString(), f.RootElement.GetProperty("overview").GetString());
            Assert.Equal(l.RootElement.GetProperty("discovery").ToString(), f.RootElement.GetProperty("discovery").ToString());
            Assert.Equal(l.RootElement.GetProperty("sources").EnumerateArray().Select(s => s.GetProperty("source").GetString()),
                         f.RootElement.GetProperty("sources").EnumerateArray().Select(s => s.GetProperty("source").GetString()));
            // The blamed process's own log travelled with the document.
            Assert.Contains("Too many open files", from.Stdout);
            // The terminal report reads the document too.
            var text = CliRunner.Run("diagnose", "--from", doc);
            Assert.True(text.Code == 0, text.Stderr);
            Assert.Contains("close-wait-leak", text.Stdout);

            // The identity in the document: the namespace's addresses, as `ip -o addr` lists them there.
            using var raw = JsonDocument.Parse(Gunzip(doc));
            var identity = raw.RootElement.GetProperty("identity");
            var addresses = Assert.Single(identity.GetProperty("namespaces").EnumerateArray()).GetProperty("addresses").EnumerateArray()
                .Select(a => $"{a.GetProperty("interface").GetString()} {a.GetProperty("address").GetString()}/{a.GetProperty("prefixLength").GetInt32()}").Order();
            var oracle = ns.Exec("ip", "-o", "addr").Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(x => x.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(x => $"{x[1].Split('@')[0]} {x[3]}").Order();
            Assert.Equal(oracle, addresses);
            Assert.Equal(Environment.MachineName, identity.GetProperty("hostname").GetString());
        }
        finally
        {
            try { leaky.Kill(true); } catch (InvalidOperationException) { }
            File.Delete(log);
            File.Delete(doc);
        }
    }

    private static byte[] Gunzip(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    [Fact]
    public void SecretsOnRealCommandLinesAreMaskedUnlessNoRedact()
    {
        using var ns = new TestNetns("crd");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:hold");
        // A real process whose arguments carry secrets in the forms that show up in the wild, holding a connection.
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", ns.Name, Shell.Python, "-c",
                     "import socket,sys,time; s=socket.create_connection(('127.0.0.1',9001)); print('ready', flush=True); time.sleep(60)",
                     "--db-password=hunter2", "--token", "tok3n", "-Dsecret.key=s3cr3t", "https://alice:pa55w0rd@db.example:5432/x",
                     "-H", "Authorization: Bearer b3arer", "--plain=visible"])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        try
        {
            Assert.Equal("ready", p.StandardOutput.ReadLine());
            var masked = CliRunner.Run("collect", "--netns", ns.Name, "--no-app-logs");
            Assert.True(masked.Code == 0, masked.Stderr);
            using var m = JsonDocument.Parse(masked.Stdout);
            var line = m.RootElement.GetProperty("processes").EnumerateArray().Single(x => x.GetProperty("pid").GetInt32() == p.Id).GetProperty("commandLine").GetString()!;
            foreach (var secret in (string[])["hunter2", "tok3n", "s3cr3t", "pa55w0rd", "b3arer"])
            {
                Assert.DoesNotContain(secret, line);
                Assert.DoesNotContain(secret, masked.Stdout);
            }
            Assert.Contains("--db-password=***", line);
            Assert.Contains("https://alice:***@db.example:5432/x", line);
            Assert.Contains("--plain=visible", line);
            Assert.True(m.RootElement.GetProperty("redacted").GetBoolean());

            var plain = CliRunner.Run("collect", "--netns", ns.Name, "--no-app-logs", "--no-redact");
            Assert.True(plain.Code == 0, plain.Stderr);
            using var u = JsonDocument.Parse(plain.Stdout);
            var raw = u.RootElement.GetProperty("processes").EnumerateArray().Single(x => x.GetProperty("pid").GetInt32() == p.Id).GetProperty("commandLine").GetString()!;
            Assert.Contains("--db-password=hunter2 --token tok3n -Dsecret.key=s3cr3t https://alice:pa55w0rd@db.example:5432/x", raw);
            Assert.False(u.RootElement.GetProperty("redacted").GetBoolean());
        }
        finally { try { p.Kill(true); } catch (InvalidOperationException) { } }
    }

    /// <summary>A real document of a small namespace, plain and gzip'd.</summary>
    private static (string Json, string Gz) RealDocuments(TestNetns ns)
    {
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        ns.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", "3");
        string json = Temp(".json"), gz = Temp(".json.gz");
        Assert.Equal(0, CliRunner.Run("collect", "--netns", ns.Name, "--no-app-logs", "-o", json).Code);
        Assert.Equal(0, CliRunner.Run("collect", "--netns", ns.Name, "--no-app-logs", "-o", gz).Code);
        return (json, gz);
    }

    [Fact]
    public void EveryBadDocumentIsOneClearLine()
    {
        using var ns = new TestNetns("cer");
        var (json, gz) = RealDocuments(ns);
        var made = new List<string> { json, gz };
        string Write(string suffix, byte[] bytes) { var f = Temp(suffix); File.WriteAllBytes(f, bytes); made.Add(f); return f; }
        string WriteText(string text) => Write(".json", Encoding.UTF8.GetBytes(text));
        try
        {
            Assert.Equal(0, CliRunner.Run("diagnose", "--from", json, "--json").Code);
            string text = File.ReadAllText(json);
            Assert.Contains("\"schemaVersion\":1,", text);

            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(text.Replace("\"schemaVersion\":1,", "\"schemaVersion\":0,"))), 1,
                "schema version 0 is older than this build reads (version 1)");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(text.Replace("\"schemaVersion\":1,", "\"schemaVersion\":2,"))), 1,
                "schema version 2 is newer than this build reads (version 1)");
            var gzBytes = File.ReadAllBytes(gz);
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", Write(".json.gz", gzBytes[..(gzBytes.Length / 2)])), 1, "gzip data is cut short");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", Write(".json.gz", gzBytes[..(gzBytes.Length - 3)])), 1, "gzip data is cut short");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(text[..(text.Length * 2 / 3)])), 1, "cut short");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText("garbage, not json\n")), 1, "not a valid JSON document");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", Write(".bin", [0x00, 0xff, 0x13, 0x37])), 1, "not a valid JSON document");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText("[1,2,3]")), 1, "not an evidence document");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText("")), 1, "empty");
            // Another conndoctor JSON (a diagnose report) is not a document.
            var report = CliRunner.Run("diagnose", "--json", "--netns", ns.Name, "--no-app-logs").Stdout;
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(report)), 1, "not an evidence document");
            var node = JsonNode.Parse(text)!.AsObject();
            node.Remove("sockets");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(node.ToJsonString())), 1, "missing its required part 'sockets'");
            node = JsonNode.Parse(text)!.AsObject();
            node["sockets"]![0]![2] = "not-an-endpoint";
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", WriteText(node.ToJsonString())), 1, "malformed evidence document: bad endpoint 'not-an-endpoint'");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", "/nonexistent/doc.json"), 1, "/nonexistent/doc.json: no such file");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", Path.GetTempPath()), 1, "is a directory");
            // One bad document among good ones fails the run with its own line.
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", json, WriteText("{}")), 1, "not an evidence document");

            // --from excludes reading this host.
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", json, "--netns", ns.Name), 2, "--from reads documents collected elsewhere; --netns reads this host");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", json, "--watch", "5s", "--since", "1h"), 2, "--since, --watch read this host");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--token-file", json), 2, "--token-file goes with --from URL");
            CliAssert.OneLineError(CliRunner.Run("collect", "-o", Path.GetTempPath()), 2, "is a directory");
        }
        finally { foreach (var f in made) File.Delete(f); }
    }

    [Fact]
    public void DocumentsOverHttpNeedTheBearerTokenAndEveryFailureIsOneLine()
    {
        using var ns = new TestNetns("chp");
        var (json, gz) = RealDocuments(ns);
        string tokenFile = Temp(".token");
        File.WriteAllText(tokenFile, "s3cret-token\n");
        int port = Ports.Free();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        var serving = Task.Run(() =>
        {
            while (server.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = server.GetContext(); } catch (HttpListenerException) { return; } catch (ObjectDisposedException) { return; }
                var path = ctx.Request.Url!.AbsolutePath;
                if (ctx.Request.Headers["Authorization"] != "Bearer s3cret-token") ctx.Response.StatusCode = 401;
                else if (path == "/evidence") { var b = File.ReadAllBytes(gz); ctx.Response.OutputStream.Write(b); }
                else if (path == "/hello") { ctx.Response.OutputStream.Write("hello"u8); }
                else ctx.Response.StatusCode = 404;
                ctx.Response.Close();
            }
        });
        string url = $"http://127.0.0.1:{port}/evidence";
        try
        {
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", url), 1, "401 Unauthorized: the agent wants a token: give it with --token-file FILE");
            var wrong = Temp(".token");
            File.WriteAllText(wrong, "nope");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", url, "--token-file", wrong), 1, "refused the token");
            File.Delete(wrong);
            var ok = CliRunner.Run("diagnose", "--json", "--from", url, "--token-file", tokenFile);
            Assert.True(ok.Code == 0, ok.Stderr);
            var fromFile = CliRunner.Run("diagnose", "--json", "--from", gz);
            using (var a = ok.Json())
            using (var b = fromFile.Json())
                Assert.Equal(Findings(b), Findings(a));
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", $"http://127.0.0.1:{port}/other", "--token-file", tokenFile), 1, "404 Not Found");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", $"http://127.0.0.1:{port}/hello", "--token-file", tokenFile), 1, "not a valid JSON document");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", $"http://127.0.0.1:{Ports.Closed()}/evidence"), 1, "cannot fetch: Connection refused");
            CliAssert.OneLineError(CliRunner.Run("diagnose", "--from", url, "--token-file", "/nonexistent/token"), 1, "--token-file /nonexistent/token");
        }
        finally
        {
            server.Stop();
            server.Close();
            _ = serving;
            File.Delete(tokenFile);
            File.Delete(json);
            File.Delete(gz);
        }
    }
}
