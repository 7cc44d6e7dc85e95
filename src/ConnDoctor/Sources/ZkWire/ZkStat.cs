namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// A znode's Stat in wire order. Times are milliseconds since the Unix epoch on the server's clock;
/// EphemeralOwner is the owning session id of an ephemeral node, 0 for any other.
/// </summary>
public readonly record struct ZkStat(long Czxid, long Mzxid, long Ctime, long Mtime, int Version, int Cversion,
    int Aversion, long EphemeralOwner, int DataLength, int NumChildren, long Pzxid)
{
    public bool IsEphemeral => EphemeralOwner != 0;
}
