using System.Text;

namespace ConnDoctor.Render.Html;

/// <summary>
/// Builds an HTML document as text. Every piece of text that comes from the world (process names, command lines,
/// log lines, paths) goes through <see cref="Escape"/>: markup characters become entities, control characters become
/// visible escapes (\n, \x1b, as the terminal report shows them), and a lone UTF-16 surrogate becomes U+FFFD, so that
/// nothing a process or a log chose can close a tag, open a script or make the page invalid UTF-8.
/// </summary>
public sealed class HtmlWriter
{
    private readonly StringBuilder _sb = new(64 * 1024);

    /// <summary>Text safe in element content and in a double- or single-quoted attribute value.</summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        int i = 0;
        while (i < text.Length && Plain(text[i])) i++;
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (Plain(c)) { sb.Append(c); continue; }
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { sb.Append(c).Append(text[++i]); }
                    else if (char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF') sb.Append('\uFFFD');     // lone half of a pair, or a noncharacter
                    else sb.Append("\\x").Append(((int)c).ToString("x2"));                               // C0, DEL, C1 controls
                    break;
            }
        }
        return sb.ToString();
    }

    // Everything but markup characters, controls (C0, DEL, C1), surrogates and the two noncharacters U+FFFE/U+FFFF.
    private static bool Plain(char c) =>
        c >= ' ' && c is not ('&' or '<' or '>' or '"' or '\'') && !(c is >= '\x7f' and <= '\x9f') && !char.IsSurrogate(c) && c < '\uFFFE';

    /// <summary>A slug for an id: lower-case letters, digits and dashes only.</summary>
    public static string Slug(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text.ToLowerInvariant())
        {
            if (c is >= 'a' and <= 'z' or >= '0' and <= '9') sb.Append(c);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        }
        return sb.ToString().Trim('-');
    }

    /// <summary>Markup we wrote ourselves (tags, SVG, CSS): never text from the world.</summary>
    public HtmlWriter Raw(string markup) { _sb.Append(markup); return this; }

    public HtmlWriter Text(string? text) { _sb.Append(Escape(text)); return this; }

    /// <summary>An opening tag; attributes with a null value are left out.</summary>
    public HtmlWriter Open(string tag, params (string Name, string? Value)[] attributes)
    {
        _sb.Append('<').Append(tag);
        foreach (var (name, value) in attributes)
            if (value != null) _sb.Append(' ').Append(name).Append("=\"").Append(Escape(value)).Append('"');
        _sb.Append('>');
        return this;
    }

    public HtmlWriter Close(string tag) { _sb.Append("</").Append(tag).Append('>'); return this; }

    /// <summary>An element holding escaped text: El("p", "x &lt; y", "note").</summary>
    public HtmlWriter El(string tag, string? text, string? cls = null)
    {
        Open(tag, ("class", cls));
        Text(text);
        return Close(tag);
    }

    /// <summary>A definition list row: a term and its value.</summary>
    public HtmlWriter Fact(string term, string? value)
    {
        if (value == null) return this;
        return El("dt", term).El("dd", value);
    }

    public int Length => _sb.Length;

    public override string ToString() => _sb.ToString();
}
