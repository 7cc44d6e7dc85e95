using System.Text;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>
/// `sockets` on a terminal: a ranked table of groups, or one line per socket like `ss -tanpoe`. The socket
/// list is written as plain aligned text, not a Spectre table: it can be 100k rows.
/// </summary>
public static class SocketsTerminalRenderer
{
    public static void Render(SocketsReport r, TextWriter output, OutputOptions o)
    {
        if (r.GroupBy == GroupBy.None) { RenderSockets(r, output, o); return; }
        var console = ConsoleFactory.Create(output, o);
        if (r.GroupBy == GroupBy.State || r.Groups.All(g => g.Netns == null))
            console.Write(GroupTable(r, r.Groups));
        else
        {
            // Several namespaces: one table under a heading each, rather than a column that would not fit 80 columns.
            foreach (var ns in r.Groups.GroupBy(g => g.Netns).OrderByDescending(x => x.Sum(g => g.Total)))
            {
                var info = r.Evidence.Namespaces.First(n => n.Label == ns.Key);
                // A pod's name where the kubelet's directories told it for a process of the pod, else its uid.
                var named = info.PodUid == null ? null : r.Evidence.Processes.Values.FirstOrDefault(p => p.PodUid == info.PodUid && p.PodName != null);
                string extra = named != null ? $" (pod {(named.PodNamespace != null ? named.PodNamespace + "/" : "")}{named.PodName})"
                    : info.PodUid != null ? $" (pod {info.PodUid})" : info.Container != null ? $" (container {info.Container[..12]})" : "";
                console.WriteLine();
                console.WriteLine($"netns {ns.Key}{extra}: {ns.Sum(g => g.Total)} socket(s)");
                console.Write(GroupTable(r, ns.ToList()));
            }
        }
        console.WriteLine(Footer(r));
        SourceNotes.Write(console, r.Evidence.Statuses, summary: false);
    }

    private static Table GroupTable(SocketsReport r, IReadOnlyList<SocketGroup> groups)
    {
        var table = new Table().Border(TableBorder.Simple);
        var states = new[] { TcpState.Established, TcpState.CloseWait, TcpState.TimeWait };
        TableColumn Num(string header) => new TableColumn(header).RightAligned().NoWrap().Padding(1, 0, 0, 0);
        if (r.GroupBy == GroupBy.State)
        {
            table.AddColumn(new TableColumn("STATE").Padding(0, 0, 1, 0)).AddColumn(Num("SOCKETS")).AddColumn(Num("PROCESSES"));
            foreach (var g in groups) table.AddRow(g.Local, g.Total.ToString(), g.Processes.ToString());
            return table;
        }
        if (r.GroupBy == GroupBy.Process) table.AddColumn(new TableColumn("PROCESS").NoWrap().Padding(0, 0, 1, 0));
        // The counts never shrink: a long IPv6 endpoint wraps inside its cell instead (whole, on two lines) where, kept on
        // one line, it squeezed the count columns to "…" at 80 columns. --wide keeps it on one line.
        table.AddColumn(new TableColumn("CONNECTION").Padding(0, 0, 0, 0));
        if (r.GroupBy == GroupBy.Remote) table.AddColumn(Num("PROCS"));
        foreach (var h in new[] { "ESTAB", "CLOSE-W", "TIME-W", "OTHER" }) table.AddColumn(Num(h));
        foreach (var g in groups)
        {
            var cells = new List<string>();
            if (r.GroupBy == GroupBy.Process) cells.Add(Markup.Escape(g.Process));
            cells.Add(Markup.Escape(Connection(g)));
            if (r.GroupBy == GroupBy.Remote) cells.Add(g.Processes > 0 ? g.Processes.ToString() : "-");
            foreach (var st in states) cells.Add(g.Counts.TryGetValue(st, out var c) ? c.ToString() : "-");
            int other = g.Total - states.Sum(st => g.Counts.GetValueOrDefault(st));
            cells.Add(other > 0 ? other.ToString() : "-");
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    /// <summary>"-> 10.0.0.5:2181 zookeeper", "10.0.0.7 -> :2181 zookeeper", "listen 0.0.0.0:2181 zookeeper".</summary>
    private static string Connection(SocketGroup g)
    {
        string svc = g.Service != null ? " " + g.Service : "";
        if (g.Remote == "*") return $"listen {g.Local}{svc}";
        if (g.Local == "*") return $"-> {g.Remote}{svc}";
        return $"{g.Remote.TrimEnd('*').TrimEnd(':')} -> {g.Local.TrimStart('*')}{svc}";
    }

    private static string Footer(SocketsReport r)
    {
        var counts = string.Join(", ", r.StateCounts().Select(c => $"{c.Count} {TcpStates.Name(c.State)}"));
        int ns = r.Evidence.Namespaces.Count;
        return $"{r.Sockets.Count} socket(s) in {r.Groups.Count} row(s){(ns > 1 ? $", {ns} network namespaces" : "")}" + (counts.Length > 0 ? $": {counts}" : "");
    }

    private static void RenderSockets(SocketsReport r, TextWriter output, OutputOptions o)
    {
        var e = r.Evidence;
        bool netns = e.Namespaces.Count > 1;
        var sb = new StringBuilder(256);
        int addrWidth = r.Sockets.Any(s => s.Family == 6) ? 28 : 21;
        sb.Append("State      Recv-Q Send-Q ").Append("Local Address:Port".PadRight(addrWidth)).Append(' ')
          .Append("Peer Address:Port".PadRight(addrWidth)).Append(" Process");
        output.WriteLine(sb.ToString());
        foreach (var s in r.Sockets)
        {
            sb.Clear();
            sb.Append(TcpStates.Name(s.DisplayState).PadRight(10)).Append(' ')
              .Append(s.RecvQueue.ToString().PadLeft(6)).Append(' ')
              .Append(s.SendQueue.ToString().PadLeft(6)).Append(' ')
              .Append(s.Local.ToString().PadRight(addrWidth)).Append(' ')
              .Append(s.Remote.ToString().PadRight(addrWidth));
            if (s.Owners.Length > 0)
            {
                sb.Append(' ');
                for (int i = 0; i < s.Owners.Length; i++)
                {
                    var ow = s.Owners[i];
                    if (i > 0) sb.Append(',');
                    sb.Append(e.Processes.TryGetValue(ow.Pid, out var p) ? p.Name : "?").Append('[').Append(ow.Pid).Append("] fd=").Append(ow.Fd);
                }
            }
            if (s.Timer != TimerKind.None)
                sb.Append(" timer:(").Append(SocketsJsonRenderer.TimerName(s.Timer)).Append(',').Append(Format.Ms(s.TimerExpiresMs)).Append(',').Append(s.TimerRetransmits).Append(')');
            sb.Append(" uid:").Append(s.Uid).Append(" ino:").Append(s.Inode);
            if (netns) sb.Append(" netns:").Append(e.Namespaces[s.NetnsIndex].Label);
            if (o.Width > 80 && s.Info is TcpInfo ti)
                sb.Append(" lastrcv:").Append(ti.LastDataRecvMs).Append(" lastack:").Append(ti.LastAckRecvMs).Append(" unacked:").Append(ti.Unacked).Append(" rtt:").Append(ti.RttUs / 1000.0);
            output.WriteLine(sb.ToString());
        }
        output.WriteLine($"{r.Sockets.Count} socket(s): " + string.Join(", ", r.StateCounts().Select(c => $"{c.Count} {TcpStates.Name(c.State)}")));
        foreach (var line in SourceNotes.Problems(e.Statuses)) output.WriteLine(line);
    }
}
