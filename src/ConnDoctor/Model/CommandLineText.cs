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
         "accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key"];

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
            if (UrlPassword(w) is string masked) { words[i] = masked; changed = true; }
        }
        return changed ? string.Join(' ', words) : commandLine;
    }

    private static bool IsSecretName(ReadOnlySpan<char> name)
    {
        foreach (var s in SecretWords)
            if (name.Contains(s, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
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
