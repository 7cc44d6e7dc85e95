using System.Text;

namespace ConnDoctor.Model;

/// <summary>
/// A command line as ConnDoctor shows it: the values of arguments that look like secrets are masked before the text
/// enters any evidence ("--password x", "--db-password=x", "-Djavax.net.ssl.keyStorePassword=x", "TOKEN=x",
/// "https://user:x@host", "Authorization: Bearer x"). Reports travel (tickets, chat); a password on a command line must not travel with them.
/// </summary>
public static class CommandLineText
{
    public const string Mask = "***";

    private static readonly string[] SecretWords =
        ["password", "passwd", "passphrase", "secret", "token", "credential", "apikey", "api_key", "api-key",
         "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key",
         // redis-server --requirepass / --masterauth; ZooKeeper's -Dzookeeper.DigestAuthenticationProvider.superDigest=super:HASH.
         "requirepass", "masterauth", "superdigest"];

    public static string Masked(string commandLine)
    {
        if (commandLine.Length == 0) return commandLine;
        var words = commandLine.Split(' ');
        bool changed = false, maskNext = false;
        for (int i = 0; i < words.Length; i++)
        {
            var w = words[i];
            if (w.Length == 0) continue;
            if (maskNext) { words[i] = Mask; changed = true; maskNext = false; continue; }
            int eq = w.IndexOf('=');
            if (eq > 0 && IsSecretName(w.AsSpan(0, eq)))
            {
                if (eq + 1 < w.Length) { words[i] = w[..(eq + 1)] + Mask; changed = true; }
                continue;
            }
            if (eq < 0 && w[0] == '-' && IsSecretName(w.AsSpan().TrimStart('-'))) { maskNext = true; continue; }
            // An HTTP credential passed as a header ("-H 'Authorization: Bearer TOKEN'", curl and friends).
            if (w.Equals("Bearer", StringComparison.OrdinalIgnoreCase) || w.Equals("Basic", StringComparison.OrdinalIgnoreCase)) { maskNext = true; continue; }
            if (UrlPassword(w) is string masked) { words[i] = w = masked; changed = true; }
            if (QueryParameters(w) is string query) { words[i] = query; changed = true; }
        }
        return changed ? string.Join(' ', words) : commandLine;
    }

    private static bool IsSecretName(ReadOnlySpan<char> name)
    {
        foreach (var s in SecretWords)
            if (name.Contains(s, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>
    /// Secret parameters inside one word: "jdbc:mysql://db/app?user=a&amp;password=x" or "a=1;password=x" -> "...password=***";
    /// null when there is none. The word's own first name= was judged already.
    /// </summary>
    private static string? QueryParameters(string w)
    {
        int first = w.IndexOfAny(['?', '&', ';', ',']);
        if (first < 0) return null;
        var sb = new StringBuilder(w.Length);
        bool changed = false;
        int start = 0;
        while (start <= w.Length)
        {
            int end = start == 0 ? first : w.IndexOfAny(['?', '&', ';', ','], start);
            if (end < 0) end = w.Length;
            var segment = w.AsSpan(start, end - start);
            int eq = segment.IndexOf('=');
            if (start > 0 && eq > 0 && eq + 1 < segment.Length && IsSecretName(segment[..eq]))
            {
                sb.Append(segment[..(eq + 1)]).Append(Mask);
                changed = true;
            }
            else sb.Append(segment);
            if (end == w.Length) break;
            sb.Append(w[end]);
            start = end + 1;
        }
        return changed ? sb.ToString() : null;
    }

    /// <summary>"scheme://user:password@host..." -> "scheme://user:***@host..."; null when there is no password.</summary>
    private static string? UrlPassword(string w)
    {
        int scheme = w.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0) return null;
        int start = scheme + 3;
        int end = w.IndexOfAny(['/', '?', '#'], start);
        int at = w.LastIndexOf('@', end < 0 ? w.Length - 1 : end - 1);
        if (at < start) return null;
        int colon = w.IndexOf(':', start, at - start);
        if (colon < 0) return null;
        return new StringBuilder(w.Length).Append(w, 0, colon + 1).Append(Mask).Append(w, at, w.Length - at).ToString();
    }
}
