using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Render;

namespace ConnDoctor.Agent.Http;

public sealed record AgentEndpointOptions
{
    /// <summary>--serve-evidence: /evidence and /findings exist at all.</summary>
    public bool ServeEvidence { get; init; }
    /// <summary>The bearer token from --token-file; null: only a verified client certificate opens /evidence and /findings.</summary>
    public string? Token { get; init; }
    public WebConfig? Web { get; init; }
    /// <summary>
    /// Writes the evidence document (collect's format) of the current window: the seam for the evidence writer
    /// (set by the CLI). Null: /evidence answers 503 saying the writer is not built in.
    /// </summary>
    public Action<Evidence, Stream>? EvidenceWriter { get; init; }
}

/// <summary>
/// The agent's routes: /metrics (text 0.0.4, or OpenMetrics when the Accept header asks), /healthz, and with
/// --serve-evidence /evidence and /findings for a client presenting the bearer token or a verified client certificate.
/// Basic auth from the web config guards every route but /healthz (which says only "ok"); on /evidence and /findings the
/// bearer token stands in for it (a request carries one Authorization header).
/// </summary>
public sealed class AgentEndpoints(Func<AgentState> state, AgentEndpointOptions o)
{
    private readonly ConcurrentDictionary<string, bool> _verified = new(StringComparer.Ordinal);
    private static readonly string DummyHash = BCrypt.Net.BCrypt.HashPassword("conndoctor-dummy", 4);

    public HttpResponse Handle(HttpRequest r)
    {
        bool sensitive = r.Path is "/evidence" or "/findings";
        if (r.Path == "/healthz") return HttpResponse.Text(200, "ok");
        if (sensitive)
        {
            if (!o.ServeEvidence) return HttpResponse.Text(404, $"{r.Path} is served only when the agent runs with --serve-evidence");
            if (!BearerOk(r) && !r.ClientCertVerified)
                return HttpResponse.Text(401, $"{r.Path} needs the bearer token of --token-file (Authorization: Bearer ...) or a verified client certificate",
                    ("WWW-Authenticate", "Bearer realm=\"conndoctor\""));
        }
        else if (o.Web?.BasicAuthUsers.Count > 0 && !BasicOk(r))
            return HttpResponse.Text(401, "basic authentication required", ("WWW-Authenticate", "Basic realm=\"conndoctor\""));

        switch (r.Path)
        {
            case "/metrics":
            {
                bool om = PrometheusRenderer.WantsOpenMetrics(r.Header("accept"));
                var text = PrometheusRenderer.Render(state().Families, om);
                return new HttpResponse(200, om ? PrometheusRenderer.OpenMetricsContentType : PrometheusRenderer.TextContentType, Encoding.UTF8.GetBytes(text));
            }
            case "/findings":
            {
                var s = state();
                if (s.Report == null) return HttpResponse.Text(503, "the first collection is still under way: no findings yet", ("Retry-After", "15"));
                using var ms = new MemoryStream();
                DiagnoseJsonRenderer.Render(s.Report, ms);
                return new HttpResponse(200, "application/json", ms.ToArray());
            }
            case "/evidence":
            {
                if (o.EvidenceWriter == null)
                    return HttpResponse.Text(503, "this build has no evidence document writer: /evidence is not available (use /findings, or `conndoctor collect` on the host)");
                using var ms = new MemoryStream();
                o.EvidenceWriter(state().Evidence, ms);
                return new HttpResponse(200, "application/json", ms.ToArray());
            }
            case "/":
                return HttpResponse.Text(200, "conndoctor agent: /metrics" + (o.ServeEvidence ? ", /evidence, /findings (token)" : "") + ", /healthz");
            default:
                return HttpResponse.Text(404, "not found: " + r.Path);
        }
    }

    private bool BearerOk(HttpRequest r)
    {
        if (o.Token == null) return false;
        var h = r.Header("authorization");
        if (h == null || !h.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return false;
        var given = Encoding.UTF8.GetBytes(h[7..].Trim());
        var want = Encoding.UTF8.GetBytes(o.Token);
        // Fixed-time over hashes: neither the length nor a prefix leaks.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(want));
    }

    private bool BasicOk(HttpRequest r)
    {
        var h = r.Header("authorization");
        if (h == null || !h.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        string decoded;
        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(h[6..].Trim())); }
        catch (FormatException) { return false; }
        int colon = decoded.IndexOf(':');
        if (colon < 0) return false;
        string user = decoded[..colon], password = decoded[(colon + 1)..];
        bool known = o.Web!.BasicAuthUsers.TryGetValue(user, out var hash);
        // bcrypt is slow on purpose: a verified pair is remembered (by a hash of user, password and stored hash), as the
        // exporter toolkit does, so that a scrape every few seconds does not cost a core. An unknown user costs a verify too.
        string cacheKey = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(user + "\0" + password + "\0" + hash)));
        if (_verified.TryGetValue(cacheKey, out bool ok)) return ok && known;
        ok = Bcrypt.Verify(password, known ? hash! : DummyHash) && known;
        if (_verified.Count > 1000) _verified.Clear();
        _verified[cacheKey] = ok;
        return ok;
    }
}

/// <summary>bcrypt verification ($2a$, $2b$, $2y$ hashes as htpasswd -B and the exporter toolkit's docs make them).</summary>
public static class Bcrypt
{
    public static bool Verify(string password, string hash)
    {
        try { return BCrypt.Net.BCrypt.Verify(password, hash); }
        catch (Exception ex) when (ex is BCrypt.Net.SaltParseException or ArgumentException or FormatException) { return false; }
    }
}
