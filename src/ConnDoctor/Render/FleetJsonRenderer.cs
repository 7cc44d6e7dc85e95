using System.Text.Json;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Render;

/// <summary>`diagnose --from --json`: a `hosts` list, each with its identity and report, then the cross-host findings. (First cut: hosts only.)</summary>
public static class FleetJsonRenderer
{
    public static void Render(FleetReport r, Stream output)
    {
        foreach (var h in r.Hosts) DiagnoseJsonRenderer.Render(h.Report, output);
    }
}
