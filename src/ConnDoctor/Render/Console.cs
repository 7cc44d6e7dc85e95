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
