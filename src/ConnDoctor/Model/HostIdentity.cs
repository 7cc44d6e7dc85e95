namespace ConnDoctor.Model;

/// <summary>One address of one interface of a namespace (as `ip -o addr` lists it).</summary>
public sealed record InterfaceAddress(string Interface, NetAddress Address, int PrefixLength);

/// <summary>The addresses of every interface of one network namespace a collection read.</summary>
public sealed record NamespaceAddresses
{
    /// <summary>The namespace's label, as in <see cref="NetnsInfo.Label"/>.</summary>
    public required string Netns { get; init; }
    public ulong Inode { get; init; }
    public required IReadOnlyList<InterfaceAddress> Addresses { get; init; }
}

/// <summary>
/// Who collected a document: the host's name and boot, the addresses of every namespace it read, and when. Documents
/// are told apart by their network identity (the non-loopback addresses), not by hostname or boot id alone: containers
/// on one machine, and the tests, put several "hosts" on one kernel with one hostname.
/// </summary>
public sealed record HostIdentity
{
    public required string Hostname { get; init; }
    /// <summary>/proc/sys/kernel/random/boot_id; null when unreadable.</summary>
    public string? BootId { get; init; }
    public required IReadOnlyList<NamespaceAddresses> Namespaces { get; init; }
    public required DateTimeOffset CollectionStart { get; init; }
    public required DateTimeOffset CollectionEnd { get; init; }
    /// <summary>What could not be read (a namespace that could not be entered): its addresses are missing.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>Whether an interface of a collected namespace holds this address (loopback never counts).</summary>
    public bool Owns(NetAddress address) =>
        !address.IsLoopback && Namespaces.Any(n => n.Addresses.Any(a => a.Address.Equals(address)));

    /// <summary>The namespace that holds this address, or null.</summary>
    public NamespaceAddresses? NamespaceOf(NetAddress address) =>
        address.IsLoopback ? null : Namespaces.FirstOrDefault(n => n.Addresses.Any(a => a.Address.Equals(address)));
}
