using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Agent;

/// <summary>
/// The agent's counters per process x pod x remote service, summed over every watch segment since the agent started:
/// connections opened (connect attempts and accepts), closed (by which side), resets (sent with the kernel's reason,
/// received), TIME_WAIT created (this side closed first), connect failures. remote_service is the peer's endpoint for a
/// connect()ed connection and empty for an accepted one (the client's port is ephemeral: never a label). A series
/// whose last event is older than the expiry and none of whose processes is alive is removed; past the cap on series,
/// new keys count under process="other".
/// </summary>
public sealed class ConnectionCounters(int maxKeys, TimeSpan expiry, Func<int, bool>? isAlive = null)
{
    public readonly record struct Key(string Process, string Pod, string RemoteService);

    private sealed class Entry
    {
        public double Opened, ClosedSelf, ClosedPeer, TimeWait;
        public readonly Dictionary<string, double> ResetsSent = new(StringComparer.Ordinal);
        public double ResetsReceived;
        public readonly Dictionary<string, double> ConnectFailures = new(StringComparer.Ordinal);
        public DateTimeOffset LastEvent;
        public readonly HashSet<int> Pids = new();
    }

    private readonly Dictionary<Key, Entry> _entries = new();
    private readonly Func<int, bool> _isAlive = isAlive ?? (pid => Directory.Exists($"/proc/{pid}"));
    public static readonly Key Other = new("other", "", "");

    public int Count => _entries.Count;

    /// <summary>
    /// Adds one segment's events from its rows' tallies (<see cref="WatchRowTally.Counters"/>): the book counted every
    /// open, close and reset as it happened, so nothing is missed when the segment kept only its most recent connections.
    /// <paramref name="podOf"/> names the pod of an owner pid (the connection's own pod when the process is not known).
    /// </summary>
    public void Add(IEnumerable<WatchRow> rows, Func<int?, string?, string> podOf, DateTimeOffset now)
    {
        foreach (var r in rows)
            foreach (var t in r.Tally?.Counters ?? [])
                Apply(t, podOf(t.Key.Pid, t.Key.Pod), now);
    }

    /// <summary>Adds connections each carrying its whole account (connections of a document, tests): what the book would have counted for them.</summary>
    public void Add(IEnumerable<WatchConnection> connections, Func<WatchConnection, string> podOf, DateTimeOffset now)
    {
        foreach (var c in connections)
        {
            if (c.OpenedMs == null && c.ClosedMs == null && c.ResetsSent == 0 && c.ResetsReceived == 0) continue;
            Apply(CounterTally.Of(c), podOf(c), now);
        }
    }

    private void Apply(CounterTally t, string pod, DateTimeOffset now)
    {
        var id = t.Key;
        var e = EntryFor(new Key(id.Comm ?? "", pod, Inbound(id) ? "" : SocketGrouper.FormatEndpoint(id.Remote)));
        e.LastEvent = now;
        if (id.Pid is int pid && !id.PidIsTask) e.Pids.Add(pid);
        e.Opened += t.Opened;
        e.ClosedSelf += t.ClosedSelf;
        e.ClosedPeer += t.ClosedPeer;
        e.TimeWait += t.TimeWait;
        if (t.Refused > 0) e.ConnectFailures["refused"] = e.ConnectFailures.GetValueOrDefault("refused") + t.Refused;
        if (t.NoAnswer > 0) e.ConnectFailures["no_answer"] = e.ConnectFailures.GetValueOrDefault("no_answer") + t.NoAnswer;
        if (t.ResetsUnread > 0) e.ResetsSent["unread_data"] = e.ResetsSent.GetValueOrDefault("unread_data") + t.ResetsUnread;
        if (t.ResetsNoSocket > 0) e.ResetsSent["no_socket"] = e.ResetsSent.GetValueOrDefault("no_socket") + t.ResetsNoSocket;
        if (t.ResetsOther > 0) e.ResetsSent["other"] = e.ResetsSent.GetValueOrDefault("other") + t.ResetsOther;
        e.ResetsReceived += t.ResetsReceived;
    }

    /// <summary>The local port ranges per namespace inode (net.ipv4.ip_local_port_range); Linux's default elsewhere.</summary>
    public IReadOnlyDictionary<ulong, Sysctls> PortRanges { get; set; } = new Dictionary<ulong, Sysctls>();

    private static readonly Sysctls LinuxDefaults = new();

    /// <summary>
    /// Accepted, or already open when the watch began on a socket whose listener was not seen: then the side whose port
    /// is ephemeral is the client, and a peer on an ephemeral port towards our fixed one is an inbound connection.
    /// </summary>
    private bool Inbound(CounterTally.Id c)
    {
        if (c.Passive) return true;
        if (c.LocalPort == 0) return false; // opened in the watch: connect()ed
        var range = PortRanges.GetValueOrDefault(c.Netns) ?? LinuxDefaults;
        return range.IsEphemeral(c.Remote.Port) && !range.IsEphemeral(c.LocalPort);
    }

    private Entry EntryFor(Key key)
    {
        if (_entries.TryGetValue(key, out var e)) return e;
        // At most maxKeys series, "other" being the last of them.
        if (key != Other && _entries.Count - (_entries.ContainsKey(Other) ? 1 : 0) >= maxKeys - 1) return EntryFor(Other);
        return _entries[key] = new Entry();
    }

    /// <summary>Drops the series of processes gone for longer than the expiry.</summary>
    public void Expire(DateTimeOffset now)
    {
        foreach (var (k, e) in _entries.ToList())
            if (now - e.LastEvent >= expiry && !e.Pids.Any(_isAlive)) _entries.Remove(k);
    }

    public IEnumerable<MetricFamily> Families()
    {
        string[] three = ["process", "pod", "remote_service"];
        var opened = new List<MetricSample>();
        var closed = new List<MetricSample>();
        var resets = new List<MetricSample>();
        var tw = new List<MetricSample>();
        var failures = new List<MetricSample>();
        foreach (var (k, e) in _entries)
        {
            string[] v = [k.Process, k.Pod, k.RemoteService];
            opened.Add(new(v, e.Opened));
            closed.Add(new([.. v, "self"], e.ClosedSelf));
            closed.Add(new([.. v, "peer"], e.ClosedPeer));
            tw.Add(new(v, e.TimeWait));
            foreach (var (reason, n) in e.ResetsSent) resets.Add(new([.. v, "sent", reason], n));
            if (e.ResetsReceived > 0) resets.Add(new([.. v, "received", ""], e.ResetsReceived));
            foreach (var (reason, n) in e.ConnectFailures) failures.Add(new([.. v, reason], n));
        }
        yield return new("conndoctor_tcp_connections_opened_total", "TCP connections opened (connect attempts and accepted connections) per process, pod and remote service, seen by the tracepoint watch.", MetricType.Counter, three, opened);
        yield return new("conndoctor_tcp_connections_closed_total", "TCP connections closed per process, pod and remote service, by the side that closed first (self or peer).", MetricType.Counter, [.. three, "closed_by"], closed);
        yield return new("conndoctor_tcp_resets_total", "TCP resets per process, pod and remote service: sent (with the kernel's reason) or received.", MetricType.Counter, [.. three, "direction", "reason"], resets);
        yield return new("conndoctor_tcp_time_wait_created_total", "TIME_WAIT sockets created by connections this process closed first, per pod and remote service.", MetricType.Counter, three, tw);
        yield return new("conndoctor_tcp_connect_failures_total", "connect() attempts that never got established, per process, pod and remote service (refused: a reset answered; no_answer: timed out or abandoned).", MetricType.Counter, [.. three, "reason"], failures);
    }
}
