using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ConnDoctor.Tests.Html;

/// <summary>
/// A strict reader of the pages we write: every '&lt;' opens or closes a known element with well-formed double-quoted
/// attributes, every element is closed in order (void elements excepted, SVG elements may close themselves), every
/// '&amp;' starts a known entity, and no control character (but newline), lone surrogate or noncharacter is left.
/// Returns the elements in document order with their attributes and text, so tests can compare structures.
/// </summary>
public static class HtmlStructure
{
    public sealed record Element(string Tag, Dictionary<string, string> Attributes, int Depth)
    {
        public StringBuilder Text { get; } = new();
        public string? Attr(string name) => Attributes.GetValueOrDefault(name);
    }

    private static readonly HashSet<string> Known =
    [
        "html", "head", "meta", "title", "style", "body", "header", "main", "footer", "script", "section", "div", "span", "p", "h1", "h2", "h3",
        "a", "code", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
        "svg", "g", "path", "line", "rect", "circle", "text",
    ];
    private static readonly HashSet<string> Void = ["meta"];
    private static readonly Regex Tag = new("\\G<(/?)([a-z][a-z0-9]*)((?:\\s+[a-zA-Z][a-zA-Z0-9:-]*=\"[^\"<]*\")*)\\s*(/?)>", RegexOptions.Compiled);
    private static readonly Regex Attr = new("([a-zA-Z][a-zA-Z0-9:-]*)=\"([^\"<]*)\"", RegexOptions.Compiled);
    private static readonly Regex Entity = new("\\G&(amp|lt|gt|quot|#39|#\\d{1,7}|#x[0-9a-fA-F]{1,6});", RegexOptions.Compiled);

    public static List<Element> Parse(string page)
    {
        for (int i = 0; i < page.Length; i++)
        {
            char c = page[i];
            if (c < ' ' && c != '\n') throw new FormatException($"control character U+{(int)c:X4} at {i}");
            if (c is >= '\x7f' and <= '\x9f') throw new FormatException($"control character U+{(int)c:X4} at {i}");
            if (c is '\uFFFE' or '\uFFFF') throw new FormatException($"noncharacter at {i}");
            if (char.IsHighSurrogate(c) && (i + 1 >= page.Length || !char.IsLowSurrogate(page[i + 1]))) throw new FormatException($"lone high surrogate at {i}");
            if (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(page[i - 1]))) throw new FormatException($"lone low surrogate at {i}");
        }
        const string doctype = "<!DOCTYPE html>\n";
        if (!page.StartsWith(doctype)) throw new FormatException("no doctype");
        var all = new List<Element>();
        var stack = new Stack<Element>();
        int pos = doctype.Length;
        while (pos < page.Length)
        {
            char c = page[pos];
            if (c == '<')
            {
                var m = Tag.Match(page, pos);
                if (!m.Success) throw new FormatException($"a '<' that is no tag at {pos}: {Around(page, pos)}");
                string name = m.Groups[2].Value;
                if (!Known.Contains(name)) throw new FormatException($"unknown element <{name}> at {pos}");
                pos += m.Length;
                if (m.Groups[1].Value == "/")
                {
                    if (stack.Count == 0 || stack.Peek().Tag != name) throw new FormatException($"</{name}> at {pos} closes <{(stack.Count > 0 ? stack.Peek().Tag : "nothing")}>");
                    stack.Pop();
                    continue;
                }
                var attrs = new Dictionary<string, string>();
                foreach (Match a in Attr.Matches(m.Groups[3].Value))
                {
                    if (!attrs.TryAdd(a.Groups[1].Value, Decode(a.Groups[2].Value, pos))) throw new FormatException($"attribute {a.Groups[1].Value} twice at {pos}");
                }
                var e = new Element(name, attrs, stack.Count);
                all.Add(e);
                bool selfClosed = m.Groups[4].Value == "/";
                if (selfClosed && !stack.Any(x => x.Tag == "svg") && name != "svg") throw new FormatException($"self-closing <{name}/> outside SVG at {pos}");
                if (Void.Contains(name) || selfClosed) continue;
                if (name is "script" or "style")
                {
                    int end = page.IndexOf($"</{name}>", pos, StringComparison.Ordinal);
                    if (end < 0) throw new FormatException($"<{name}> never closed");
                    e.Text.Append(page, pos, end - pos);
                    pos = end + name.Length + 3;
                    continue;
                }
                stack.Push(e);
            }
            else if (c == '&')
            {
                var m = Entity.Match(page, pos);
                if (!m.Success) throw new FormatException($"a bare '&' at {pos}: {Around(page, pos)}");
                foreach (var open in stack) open.Text.Append(WebUtility.HtmlDecode(m.Value));
                pos += m.Length;
            }
            else if (c == '>') throw new FormatException($"a bare '>' at {pos}: {Around(page, pos)}");
            else
            {
                if (stack.Count == 0 && !char.IsWhiteSpace(c)) throw new FormatException($"text outside <html> at {pos}");
                foreach (var open in stack) open.Text.Append(c);
                pos++;
            }
        }
        if (stack.Count > 0) throw new FormatException($"<{stack.Peek().Tag}> never closed");
        if (all.Count == 0 || all[0].Tag != "html" || all.Count(e => e.Depth == 0) != 1) throw new FormatException("not one <html> root");
        return all;
    }

    private static string Decode(string value, int pos)
    {
        for (int i = 0; i < value.Length; i++)
            if (value[i] == '&' && !Entity.Match(value, i).Success) throw new FormatException($"a bare '&' in an attribute at {pos}");
        if (value.Contains('>')) throw new FormatException($"a bare '>' in an attribute at {pos}");
        return WebUtility.HtmlDecode(value);
    }

    private static string Around(string page, int pos) => page.Substring(Math.Max(0, pos - 40), Math.Min(80, page.Length - Math.Max(0, pos - 40)));

    /// <summary>The shape of a page: tag names with their depth, in order (text left out).</summary>
    public static string Shape(IEnumerable<Element> elements) => string.Join(" ", elements.Select(e => $"{e.Depth}{e.Tag}"));
}
