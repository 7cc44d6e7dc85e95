namespace ConnDoctor.Render;

/// <summary>How terminal output looks: 80 columns unless --wide, colour only on a terminal.</summary>
public sealed record OutputOptions
{
    public int Width { get; init; } = 80;
    public bool Color { get; init; }
    public bool Verbose { get; init; }
}
