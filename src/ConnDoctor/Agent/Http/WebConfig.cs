using System.Security.Authentication;

namespace ConnDoctor.Agent.Http;

/// <summary>
/// A web config file in the Prometheus exporter-toolkit format (--web.config.file), the subset the agent serves:
/// tls_server_config (cert_file, key_file, client_ca_file, client_auth_type, min_version, max_version) and
/// basic_auth_users (user: bcrypt hash). Other keys the toolkit knows (cipher_suites, curve_preferences,
/// http_server_config, ...) are accepted and ignored, each named in <see cref="Ignored"/>; an unknown key is an error,
/// as in the toolkit (a typo must not silently turn TLS off).
/// </summary>
public sealed record WebConfig
{
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }
    public string? ClientCaFile { get; init; }
    /// <summary>NoClientCert (default), RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert.</summary>
    public string ClientAuthType { get; init; } = "NoClientCert";
    public SslProtocols MinVersion { get; init; } = SslProtocols.Tls12;
    public SslProtocols? MaxVersion { get; init; }
    public IReadOnlyDictionary<string, string> BasicAuthUsers { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Ignored { get; init; } = [];

    public bool Tls => CertFile != null;
    public bool VerifiesClientCerts => ClientAuthType is "VerifyClientCertIfGiven" or "RequireAndVerifyClientCert";
    public bool RequiresClientCert => ClientAuthType is "RequireAnyClientCert" or "RequireAndVerifyClientCert";

    private static readonly string[] AuthTypes = ["NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"];
    private static readonly HashSet<string> IgnoredTls = ["cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans"];

    /// <summary>Reads and checks the file; throws UserException with a one-line reason.</summary>
    public static WebConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new UserException($"--web.config.file {path}: {ex.Message}"); }
        try { return Parse(text, Path.GetDirectoryName(Path.GetFullPath(path))!); }
        catch (FormatException ex) { throw new UserException($"--web.config.file {path}: {ex.Message}"); }
    }

    /// <summary>Relative file names are taken from the config file's folder, as the toolkit does.</summary>
    public static WebConfig Parse(string text, string baseDir)
    {
        var root = MiniYaml.Parse(text);
        var cfg = new WebConfig();
        var ignored = new List<string>();
        foreach (var (key, value) in root)
        {
            switch (key)
            {
                case "tls_server_config":
                    if (value is not Dictionary<string, object> tls) throw new FormatException("tls_server_config must be a mapping");
                    foreach (var (k, v) in tls)
                    {
                        string S() => v as string ?? throw new FormatException($"tls_server_config.{k} must be a string");
                        string F() => Path.Combine(baseDir, S());
                        cfg = k switch
                        {
                            "cert_file" => cfg with { CertFile = F() },
                            "key_file" => cfg with { KeyFile = F() },
                            "client_ca_file" => cfg with { ClientCaFile = F() },
                            "client_auth_type" => AuthTypes.Contains(S()) ? cfg with { ClientAuthType = S() } : throw new FormatException($"client_auth_type {S()}: one of {string.Join(", ", AuthTypes)}"),
                            "min_version" => cfg with { MinVersion = Version(S()) },
                            "max_version" => cfg with { MaxVersion = Version(S()) },
                            "cert" or "key" or "client_ca" => throw new FormatException($"tls_server_config.{k} (inline PEM) is not supported: give {k}_file"),
                            _ when IgnoredTls.Contains(k) => cfg,
                            _ => throw new FormatException($"unknown key tls_server_config.{k}"),
                        };
                        if (IgnoredTls.Contains(k)) ignored.Add("tls_server_config." + k);
                    }
                    break;
                case "basic_auth_users":
                    if (value is string { Length: 0 }) break;
                    if (value is not Dictionary<string, object> users) throw new FormatException("basic_auth_users must be a mapping of user: bcrypt hash");
                    var map = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var (u, h) in users)
                    {
                        if (h is not string hash || !hash.StartsWith("$2")) throw new FormatException($"basic_auth_users.{u}: not a bcrypt hash ($2y$...)");
                        map[u] = hash;
                    }
                    cfg = cfg with { BasicAuthUsers = map };
                    break;
                case "http_server_config":
                    ignored.Add(key);
                    break;
                default:
                    throw new FormatException($"unknown key {key}");
            }
        }
        if ((cfg.CertFile == null) != (cfg.KeyFile == null)) throw new FormatException("tls_server_config needs both cert_file and key_file");
        if (cfg.CertFile == null && (cfg.ClientCaFile != null || cfg.ClientAuthType != "NoClientCert")) throw new FormatException("client certificates need tls_server_config.cert_file and key_file");
        if (cfg.VerifiesClientCerts && cfg.ClientCaFile == null) throw new FormatException($"client_auth_type {cfg.ClientAuthType} needs client_ca_file");
        return cfg with { Ignored = ignored };
    }

    private static SslProtocols Version(string v) => v switch
    {
        "TLS10" => SslProtocols.Tls12, // older than 1.2 is not offered by this runtime's defaults: 1.2 is the floor
        "TLS11" => SslProtocols.Tls12,
        "TLS12" => SslProtocols.Tls12,
        "TLS13" => SslProtocols.Tls13,
        _ => throw new FormatException($"TLS version {v}: one of TLS10, TLS11, TLS12, TLS13"),
    };
}

/// <summary>
/// The YAML a web config uses: nested mappings by indentation, scalars (plain, 'single' or "double" quoted), block
/// lists (- item) and flow lists ([a, b]), # comments. Anchors, multi-line scalars and flow mappings are refused.
/// </summary>
internal static class MiniYaml
{
    public static Dictionary<string, object> Parse(string text)
    {
        var lines = new List<(int Indent, string Text, int No)>();
        int no = 0;
        foreach (var raw in text.Split('\n'))
        {
            no++;
            var line = StripComment(raw.TrimEnd('\r'));
            if (line.Trim().Length == 0 || line.Trim() == "---") continue;
            if (line.Contains('\t') && line.TrimStart(' ').Length != line.TrimStart(' ', '\t').Length) throw new FormatException($"line {no}: tab in indentation");
            int indent = line.Length - line.TrimStart(' ').Length;
            lines.Add((indent, line.Trim(), no));
        }
        int i = 0;
        var result = lines.Count == 0 ? new Dictionary<string, object>() : Map(lines, ref i, lines[0].Indent);
        if (i < lines.Count) throw new FormatException($"line {lines[i].No}: unexpected indentation");
        return result;
    }

    private static Dictionary<string, object> Map(List<(int Indent, string Text, int No)> lines, ref int i, int indent)
    {
        var map = new Dictionary<string, object>(StringComparer.Ordinal);
        while (i < lines.Count && lines[i].Indent == indent)
        {
            var (_, t, no) = lines[i];
            if (t.StartsWith("- ") || t == "-") throw new FormatException($"line {no}: a list where a key was expected");
            int colon = KeyColon(t);
            if (colon <= 0) throw new FormatException($"line {no}: expected 'key: value'");
            string key = Unquote(t[..colon].Trim(), no);
            string rest = t[(colon + 1)..].Trim();
            if (map.ContainsKey(key)) throw new FormatException($"line {no}: key {key} given twice");
            i++;
            if (rest.Length > 0) { map[key] = Scalar(rest, no); continue; }
            if (i < lines.Count && lines[i].Indent > indent) map[key] = lines[i].Text.StartsWith('-') ? List(lines, ref i, lines[i].Indent) : Map(lines, ref i, lines[i].Indent);
            else if (i < lines.Count && lines[i].Indent == indent && lines[i].Text.StartsWith("- ")) map[key] = List(lines, ref i, indent);
            else map[key] = "";
        }
        if (i < lines.Count && lines[i].Indent > indent) throw new FormatException($"line {lines[i].No}: unexpected indentation");
        return map;
    }

    private static List<string> List(List<(int Indent, string Text, int No)> lines, ref int i, int indent)
    {
        var list = new List<string>();
        while (i < lines.Count && lines[i].Indent == indent && lines[i].Text.StartsWith('-'))
        {
            var v = Scalar(lines[i].Text[1..].Trim(), lines[i].No);
            if (v is not string s) throw new FormatException($"line {lines[i].No}: only lists of plain values are understood");
            list.Add(s);
            i++;
        }
        return list;
    }

    private static object Scalar(string v, int no)
    {
        if (v.StartsWith('[') && v.EndsWith(']'))
            return v[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => Unquote(x, no)).ToList();
        if (v.StartsWith('{') || v.StartsWith('&') || v.StartsWith('*') || v.StartsWith('|') || v.StartsWith('>'))
            throw new FormatException($"line {no}: this YAML form ({v[0]}) is not understood here");
        return Unquote(v, no);
    }

    private static string Unquote(string v, int no)
    {
        if (v.Length >= 2 && v[0] == '"' && v[^1] == '"') return v[1..^1].Replace("\\\"", "\"").Replace("\\\\", "\\");
        if (v.Length >= 2 && v[0] == '\'' && v[^1] == '\'') return v[1..^1].Replace("''", "'");
        if (v.StartsWith('"') || v.StartsWith('\'')) throw new FormatException($"line {no}: unterminated quote");
        return v;
    }

    /// <summary>The colon ending a key: outside quotes, followed by a space or the end of the line.</summary>
    private static int KeyColon(string t)
    {
        char q = '\0';
        for (int k = 0; k < t.Length; k++)
        {
            char c = t[k];
            if (q != '\0') { if (c == q) q = '\0'; continue; }
            if (c is '"' or '\'' && k == 0) { q = c; continue; }
            if (c == ':' && (k + 1 == t.Length || t[k + 1] == ' ')) return k;
        }
        return -1;
    }

    private static string StripComment(string line)
    {
        char q = '\0';
        for (int k = 0; k < line.Length; k++)
        {
            char c = line[k];
            if (q != '\0') { if (c == q) q = '\0'; continue; }
            if (c is '"' or '\'') q = c;
            else if (c == '#' && (k == 0 || line[k - 1] is ' ' or '\t')) return line[..k];
        }
        return line;
    }
}

/// <summary>The same small YAML reader for the agent's --config file.</summary>
public static class WebConfigYaml
{
    public static Dictionary<string, object> Parse(string text) => MiniYaml.Parse(text);
}
