using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace ConnDoctor.Tests.Html;

/// <summary>
/// Headless Chromium driven through the DevTools protocol over its WebSocket (a few commands: open a tab, navigate,
/// evaluate, screenshot), with every request, console message and exception of the tab recorded. Offline: a proxy
/// to a closed loopback port and a resolver that finds no host, so a page that tried to fetch anything would show
/// the request (and fail) instead of reaching the network.
/// </summary>
public sealed class Chromium : IAsyncDisposable
{
    public const string Binary = "/usr/bin/chromium";
    private readonly Process _process;
    private readonly ClientWebSocket _ws = new();
    private readonly string _profile;
    private readonly Dictionary<int, TaskCompletionSource<JsonNode>> _pending = new();
    private readonly List<JsonNode> _events = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _reader;
    private int _next;

    private Chromium(Process p, string profile) { _process = p; _profile = profile; }

    public static bool Available => File.Exists(Binary);

    public static async Task<Chromium> Start()
    {
        string profile = Directory.CreateTempSubdirectory("conndoctor-chromium-").FullName;
        var psi = new ProcessStartInfo(Binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", "--remote-allow-origins=*", $"--user-data-dir={profile}",
                     "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "about:blank",
                 }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var c = new Chromium(p, profile);
        var sw = Stopwatch.StartNew();
        string? url = null;
        _ = p.StandardOutput.ReadToEndAsync();
        while (url == null && sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            var line = await p.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line == null) break;
            int i = line.IndexOf("ws://", StringComparison.Ordinal);
            if (line.StartsWith("DevTools listening on", StringComparison.Ordinal) && i >= 0) url = line[i..].Trim();
        }
        if (url == null) { await c.DisposeAsync(); throw new InvalidOperationException("chromium did not print its DevTools address"); }
        _ = p.StandardError.ReadToEndAsync();   // keep draining: a full pipe would stall the browser
        await c._ws.ConnectAsync(new Uri(url), CancellationToken.None);
        c._reader = Task.Run(c.Read);
        return c;
    }

    private async Task Read()
    {
        var buf = new byte[1 << 20];
        var msg = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _ws.State == WebSocketState.Open)
            {
                var r = await _ws.ReceiveAsync(buf, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                msg.Write(buf, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var node = JsonNode.Parse(msg.ToArray())!;
                msg.SetLength(0);
                if (node["id"] is { } id)
                {
                    TaskCompletionSource<JsonNode>? t;
                    lock (_pending) _pending.Remove((int)id, out t);
                    t?.TrySetResult(node);
                }
                else lock (_events) _events.Add(node);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested) { }
        catch (WebSocketException) { }
    }

    public async Task<JsonNode> Send(string method, JsonObject? parameters = null, string? session = null)
    {
        int id = Interlocked.Increment(ref _next);
        var t = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending) _pending[id] = t;
        var o = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (session != null) o["sessionId"] = session;
        await _ws.SendAsync(Encoding.UTF8.GetBytes(o.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var reply = await t.Task.WaitAsync(TimeSpan.FromSeconds(60));
        if (reply["error"] is { } err) throw new InvalidOperationException($"{method}: {err.ToJsonString()}");
        return reply["result"]!;
    }

    public List<JsonNode> Events(string session)
    {
        lock (_events) return _events.Where(e => (string?)e["sessionId"] == session).ToList();
    }

    /// <summary>What one page did: its requests, console messages and exceptions, and the value of <paramref name="script"/>.</summary>
    public sealed record Visit(List<string> Requests, List<string> Problems, string Value);

    /// <summary>Opens a tab at 1280 px wide, loads the file, evaluates the script (a JSON string), screenshots the top of the page, and closes the tab.</summary>
    public async Task<Visit> Open(string file, string script, string? screenshot, int height = 1600)
    {
        var target = (string)(await Send("Target.createTarget", new JsonObject { ["url"] = "about:blank" }))["targetId"]!;
        var session = (string)(await Send("Target.attachToTarget", new JsonObject { ["targetId"] = target, ["flatten"] = true }))["sessionId"]!;
        foreach (var m in new[] { "Page.enable", "Runtime.enable", "Log.enable", "Network.enable" }) await Send(m, null, session);
        await Send("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = 1280, ["height"] = 900, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session);
        string url = new Uri(Path.GetFullPath(file)).AbsoluteUri;
        await Send("Page.navigate", new JsonObject { ["url"] = url }, session);
        var sw = Stopwatch.StartNew();
        while (!Events(session).Any(e => (string?)e["method"] == "Page.loadEventFired"))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("the page did not load in 30 s");
            await Task.Delay(50);
        }
        var value = (string)(await Send("Runtime.evaluate", new JsonObject { ["expression"] = script, ["returnByValue"] = true }, session))["result"]!["value"]!;
        if (screenshot != null)
        {
            var shot = await Send("Page.captureScreenshot", new JsonObject
            {
                ["format"] = "png", ["captureBeyondViewport"] = true,
                ["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = 1280, ["height"] = height, ["scale"] = 1 },
            }, session);
            await File.WriteAllBytesAsync(screenshot, Convert.FromBase64String((string)shot["data"]!));
        }
        await Task.Delay(200);   // late console messages or requests
        var events = Events(session);
        var requests = events.Where(e => (string?)e["method"] == "Network.requestWillBeSent")
            .Select(e => (string)e["params"]!["request"]!["url"]!).Where(u => u != url).ToList();
        var problems = events.Where(e => (string?)e["method"] switch
            {
                "Runtime.exceptionThrown" => true,
                "Runtime.consoleAPICalled" => (string?)e["params"]!["type"] is "error" or "warning" or "assert",
                "Log.entryAdded" => (string?)e["params"]!["entry"]!["level"] is "error" or "warning",
                _ => false,
            }).Select(e => e.ToJsonString()).ToList();
        await Send("Target.closeTarget", new JsonObject { ["targetId"] = target });
        return new Visit(requests, problems, value);
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_ws.State == WebSocketState.Open) await Send("Browser.close").WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (Exception) { /* it may already be gone */ }
        _stop.Cancel();
        if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
        _ws.Dispose();
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { }
    }
}
