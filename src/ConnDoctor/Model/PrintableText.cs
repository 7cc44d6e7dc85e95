using System.Text;

namespace ConnDoctor.Model;

/// <summary>
/// Text that other processes choose (process names, command lines) made safe to show: control characters become
/// visible escapes (\n, \t, \x1b). Any user can name a process or pass an argument with an escape sequence or a
/// newline; printed raw in a report that root reads, it would recolour the terminal or forge whole lines.
/// </summary>
public static class PrintableText
{
    public static string Of(string text)
    {
        int i = 0;
        while (i < text.Length && !IsControl(text[i])) i++;
        if (i == text.Length) return text;                  // the usual case: nothing to escape, no copy
        var sb = new StringBuilder(text.Length + 8).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!IsControl(c)) sb.Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\t') sb.Append("\\t");
            else if (c == '\r') sb.Append("\\r");
            else sb.Append("\\x").Append(((int)c).ToString("x2"));
        }
        return sb.ToString();
    }

    // C0 controls, DEL and the C1 controls (U+0080..U+009F: some terminals take U+009B as an escape sequence start).
    private static bool IsControl(char c) => c < 0x20 || c is >= '\x7f' and <= '\x9f';
}
