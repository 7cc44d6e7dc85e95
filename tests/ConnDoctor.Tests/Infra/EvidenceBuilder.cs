using ConnDoctor.Model;

namespace ConnDoctor.Tests.Infra;

/// <summary>Builds evidence by hand for rule and renderer tests: the situations, not the kernel.</summary>
public sealed class EvidenceBuilder
{
    private readonly List<SocketRecord> _sockets = new();
    private readonly Dictionary<int, ProcessRecord> _processes = new();
    private ulong _inode = 1000;
    private int _fd = 10;
    public Sysctls Sysctls { get; set; } = new() { LocalPortLow = 32768, LocalPortHigh = 60999, TcpTwReuse = 2, TcpFinTimeout = 60, TcpMaxTwBuckets = 262144 };

    /// <summary>The evidence of a capture that held exactly these connections (its pairs and timeline summed up as pcap does).</summary>
    public static Evidence FromCapture(IEnumerable<TcpConnection> conns)
    {
        var arr = conns.ToArray();
        long first = arr.Min(c => c.StartNs), last = arr.Max(c => c.EndNs);
        return new Evidence
        {
            Capture = new CaptureEvidence
            {
                File = "test.pcap", Format = "pcap (us, little-endian)", LinkTypes = ["Ethernet"], Packets = arr.Sum(c => c.Packets), TcpPackets = arr.Sum(c => c.Packets),
                RstPackets = arr.Sum(c => c.RstPackets), FirstNs = first, LastNs = last, Connections = arr,
                Pairs = ConnDoctor.Analysis.CaptureSummary.Pairs(arr), Timeline = ConnDoctor.Analysis.CaptureSummary.Timeline(arr, first, last),
            },
            Statuses = [new SourceStatus(ConnDoctor.Sources.Pcap.CaptureSource.SourceName, SourceState.Ok, "test", arr.Length)],
            CollectedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
            Host = "testhost",
        };
    }

    public static NetEndpoint Ep(string text) => NetEndpoint.TryParse(text, out var ep, out _) ? ep : throw new ArgumentException(text);

    public EvidenceBuilder Process(int pid, string name, string cmdline = "")
    {
        _processes[pid] = new ProcessRecord { Pid = pid, Name = name, CommandLine = cmdline };
        return this;
    }

    public EvidenceBuilder Socket(TcpState state, string local, string remote, int? pid = null, TcpInfo? info = null,
        TimerKind timer = TimerKind.None, uint expiresMs = 0, uint recvQ = 0, int count = 1, uint expirySpreadMs = 0)
    {
        for (int i = 0; i < count; i++)
        {
            var l = Ep(local);
            if (count > 1 && l.Port != 0 && state != TcpState.Listen && !_listenPorts.Contains(l.Port)) l = l with { Port = (ushort)(l.Port + i) };
            var r = Ep(remote);
            if (count > 1 && _listenPorts.Contains(l.Port)) r = r with { Port = (ushort)(r.Port + i) };
            bool owned = pid != null && state != TcpState.TimeWait;
            _sockets.Add(new SocketRecord
            {
                Family = 4, State = state, Local = l, Remote = r, Info = info, Timer = timer, RecvQueue = recvQ,
                TimerExpiresMs = expiresMs - (uint)((long)expirySpreadMs * i / count), // older sockets have less time left
                Inode = state == TcpState.TimeWait ? 0 : _inode++,
                Owners = owned ? [new SocketOwner(pid!.Value, _fd++)] : [],
            });
        }
        return this;
    }

    private readonly HashSet<ushort> _listenPorts = new();

    public EvidenceBuilder Listen(string local, int pid)
    {
        _listenPorts.Add(Ep(local).Port);
        return Socket(TcpState.Listen, local, "0.0.0.0:0", pid);
    }

    public Evidence Build() => new()
    {
        Sockets = _sockets,
        Processes = _processes,
        Namespaces = [new NetnsInfo { Label = "host", Sysctls = Sysctls }],
        Statuses = [new SourceStatus("sockets:netlink", SourceState.Ok, "1 network namespace(s)", _sockets.Count)],
        CollectedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
        Host = "testhost",
    };
}
