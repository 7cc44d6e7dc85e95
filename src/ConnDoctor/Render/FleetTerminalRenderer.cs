using ConnDoctor.Pipeline;

namespace ConnDoctor.Render;

/// <summary>`diagnose --from` on a terminal: the cross-host story first, then each host's report. (First cut: hosts only.)</summary>
public static class FleetTerminalRenderer
{
    public static void Render(FleetReport r, TextWriter output, OutputOptions o)
    {
        foreach (var h in r.Hosts) DiagnoseTerminalRenderer.Render(h.Report, output, o);
    }
}
