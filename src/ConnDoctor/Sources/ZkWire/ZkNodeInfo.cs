namespace ConnDoctor.Sources.ZkWire;

/// <summary>One znode found by <see cref="ZkEphemeralLister"/>: its full path and its Stat when it was read.</summary>
public sealed record ZkNodeInfo(string Path, ZkStat Stat);
