using System.Net;
using ConnDoctor.Model;

namespace ConnDoctor.Documents;

/// <summary>
/// Where `diagnose --from` gets a document: a file (gzip'd or not), "-" for stdin, or an http(s):// URL (the fleet
/// agent's /evidence), fetched with a bearer token when one is given, a time limit and a size cap. Every failure is one
/// line naming the location (<see cref="EvidenceDocumentException"/>).
/// </summary>
public static class EvidenceDocumentSource
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static bool IsUrl(string location) =>
        location.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the document at <paramref name="location"/>; <paramref name="stdin"/> serves "-".</summary>
    public static Evidence Load(string location, Func<Stream> stdin, string? token, TimeSpan? timeout = null)
    {
        if (location == "-") return EvidenceDocumentReader.Read(stdin(), "stdin");
        if (IsUrl(location)) return EvidenceDocumentReader.Read(Fetch(location, token, timeout ?? DefaultTimeout), location);
        return EvidenceDocumentReader.ReadFile(location);
    }

    /// <summary>The body of a GET, at most <see cref="EvidenceDocumentReader.MaxBytes"/>.</summary>
    public static byte[] Fetch(string url, string? token, TimeSpan timeout)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) throw new EvidenceDocumentException($"{url}: not a URL");
        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(Math.Min(10, timeout.TotalSeconds)), AutomaticDecompression = DecompressionMethods.None, UseProxy = false };
        using var http = new HttpClient(handler) { Timeout = timeout, MaxResponseContentBufferSize = (int)Math.Min(int.MaxValue, EvidenceDocumentReader.MaxBytes) };
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (token != null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        try
        {
            using var response = http.Send(request, HttpCompletionOption.ResponseHeadersRead);
            int code = (int)response.StatusCode;
            if (code == 401 || code == 403)
                throw new EvidenceDocumentException(token == null
                    ? $"{url}: {code} {response.ReasonPhrase}: the agent wants a token: give it with --token-file FILE"
                    : $"{url}: {code} {response.ReasonPhrase}: the agent refused the token from --token-file");
            if (code == 404) throw new EvidenceDocumentException($"{url}: 404 Not Found: is this the agent's evidence URL (http://HOST:PORT/evidence)?");
            if (!response.IsSuccessStatusCode) throw new EvidenceDocumentException($"{url}: HTTP {code} {response.ReasonPhrase}");
            if (response.Content.Headers.ContentLength is long len && len > EvidenceDocumentReader.MaxBytes)
                throw new EvidenceDocumentException($"{url}: {len} bytes is more than the {EvidenceDocumentReader.MaxBytes >> 20} MB a document may have");
            using var body = response.Content.ReadAsStream();
            var ms = new MemoryStream();
            var buf = new byte[1 << 16];
            int n;
            while ((n = body.Read(buf, 0, buf.Length)) > 0)
            {
                ms.Write(buf, 0, n);
                if (ms.Length > EvidenceDocumentReader.MaxBytes)
                    throw new EvidenceDocumentException($"{url}: more than the {EvidenceDocumentReader.MaxBytes >> 20} MB a document may have");
            }
            return ms.ToArray();
        }
        catch (HttpRequestException ex)
        {
            var why = ex.InnerException is System.Net.Sockets.SocketException se ? se.Message : ex.Message;
            throw new EvidenceDocumentException($"{url}: cannot fetch: {why.TrimEnd('.')}");
        }
        catch (TaskCanceledException)
        {
            throw new EvidenceDocumentException($"{url}: no complete answer within {timeout.TotalSeconds:0} s");
        }
        catch (IOException ex)
        {
            throw new EvidenceDocumentException($"{url}: the connection broke while reading: {ex.Message.TrimEnd('.')}");
        }
    }

    /// <summary>The token in a --token-file: its first line, trimmed; one line when it cannot be read or is empty.</summary>
    public static string ReadToken(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EvidenceDocumentException($"--token-file {path}: {ex.Message}");
        }
        var token = text.Split('\n')[0].Trim();
        if (token.Length == 0) throw new EvidenceDocumentException($"--token-file {path}: the file is empty");
        return token;
    }
}
