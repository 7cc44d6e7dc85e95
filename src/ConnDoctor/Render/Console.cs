using ConnDoctor.Model;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>Builds the Spectre console renderers write to: fixed width, no ANSI codes unless colour is on.</summary>
public static class ConsoleFactory
{
    public static IAnsiConsole Create(TextWriter writer, OutputOptions o)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = o.Color ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = o.Color ? ColorSystemSupport.Standard : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = o.Width;
        return console;
    }
}

/// <summary>How the sources fared, as every terminal report states it: one summary line, then a note per problem.</summary>
public static class SourceNotes
{
    public static string Summary(IEnumerable<SourceStatus> statuses) =>
        "sources: " + string.Join(", ", statuses.Select(s => $"{s.Source} {SourceStatus.StateName(s.State)}"));

    /// <summary>"note: processes partial: ..." for each source that was not simply ok.</summary>
    public static IEnumerable<string> Problems(IEnumerable<SourceStatus> statuses) =>
        statuses.Where(s => s.State is not (SourceState.Ok or SourceState.Skipped))
                .Select(s => $"note: {s.Source} {SourceStatus.StateName(s.State)}: {s.Reason}");

    public static void Write(IAnsiConsole console, IEnumerable<SourceStatus> statuses, bool summary = true)
    {
        if (summary) console.WriteLine(Summary(statuses));
        foreach (var line in Problems(statuses)) console.WriteLine(line);
    }
}
