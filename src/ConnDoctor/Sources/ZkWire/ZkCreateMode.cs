namespace ConnDoctor.Sources.ZkWire;

/// <summary>The create flags of a CreateRequest (CreateMode's wire values; container and TTL modes are not needed here).</summary>
public enum ZkCreateMode
{
    Persistent = 0,
    Ephemeral = 1,
    PersistentSequential = 2,
    EphemeralSequential = 3,
}
