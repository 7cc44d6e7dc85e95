namespace ConnDoctor.Model;

public enum SourceState { Ok, Partial, Denied, Failed, Skipped }

/// <summary>How a source fared. A source that fails is data for the report, never the end of the run.</summary>
public sealed record SourceStatus(string Source, SourceState State, string? Reason = null, int Items = 0, TimeSpan Duration = default)
{
    public static string StateName(SourceState s) => s switch
    {
        SourceState.Ok => "ok",
        SourceState.Partial => "partial",
        SourceState.Denied => "denied",
        SourceState.Failed => "failed",
        _ => "skipped",
    };
}
