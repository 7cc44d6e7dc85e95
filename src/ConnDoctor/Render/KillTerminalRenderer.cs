using System.Text;
using ConnDoctor.Actions;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>
/// `kill` on a terminal: one row per selected socket with its owner and idle time, and under it why it matches
/// (dry run) or what the kernel answered (--yes); then the check of the table before against after.
/// </summary>
public static class KillTerminalRenderer
{
    public static void Render(KillReport r, TextWriter output, OutputOptions o)
    {
        var e = r.Before;
        string where = e.Namespaces.Count == 1 && e.Namespaces[0].Label != "host" ? $", netns {e.Namespaces[0].Label}" : e.Namespaces.Count > 1 ? $", {e.Namespaces.Count} network namespaces" : "";
        output.WriteLine($"conndoctor kill on {e.Host}{where}{(r.DryRun ? " (dry run)" : "")}");
        foreach (var line in DiagnoseTerminalRenderer.Wrap("filter: " + r.FilterText, o.Width, 0, 8)) output.WriteLine(line);
        output.WriteLine(r.Targets.Count == 0 ? "no socket matches the filter"
            : r.DryRun ? $"{r.Targets.Count} socket(s) would be destroyed:" : $"{r.Targets.Count} socket(s) selected:");
        if (r.Targets.Count > 0)
        {
            output.WriteLine();
            bool v6 = r.Targets.Any(t => t.Socket.Local.Address.IsV6 && !t.Socket.Local.Address.IsV4Mapped);
            int aw = v6 ? 28 : 21;
            output.WriteLine($"{"STATE",-10} {"LOCAL".PadRight(aw)} {"PEER".PadRight(aw)} {"PROCESS",-16} IDLE");
            var results = r.Results.ToDictionary(x => x.Target);
            foreach (var t in r.Targets)
            {
                var s = t.Socket;
                string owner = s.Owners.Length == 0 ? "-" : e.Processes.TryGetValue(s.Owners[0].Pid, out var p) ? p.Label : $"pid {s.Owners[0].Pid}";
                if (s.Owners.Length > 1) owner += $" +{s.Owners.Length - 1}";
                string idle = s.Info is TcpInfo i ? Format.Ms(i.LastDataRecvMs) : "-";
                output.WriteLine($"{TcpStates.Name(s.DisplayState),-10} {SocketGrouper.FormatEndpoint(s.Local).PadRight(aw)} {SocketGrouper.FormatEndpoint(s.Remote).PadRight(aw)} {owner,-16} {idle}");
                string netns = e.Namespaces.Count > 1 ? $"netns {t.Netns.Label}; " : "";
                string detail = results.TryGetValue(t, out var res)
                    ? $"{netns}{res.Detail}{(res.Outcome == KillOutcome.Destroyed ? (res.StillThere ? ", but still in the table" : ", gone from the table") : res.StillThere ? "" : "; not in the table any more")}"
                    : netns + "why: " + string.Join(", ", t.Why);
                foreach (var line in DiagnoseTerminalRenderer.Wrap(detail, o.Width, 2, 4)) output.WriteLine(line);
            }
        }
        if (r.ListenersSkipped > 0)
            output.WriteLine($"note: {r.ListenersSkipped} listening socket(s) match too; kill never destroys listeners (stop the service instead)");
        if (r.Targets.Any(t => t.Socket.State == TcpState.TimeWait))
            output.WriteLine(r.KernelDestroysTimeWait
                ? $"note: this kernel ({r.KernelRelease}) destroys TIME_WAIT sockets (Linux 6.0 and later)"
                : $"note: this kernel ({r.KernelRelease}) cannot destroy TIME_WAIT sockets (Linux 6.0 and later can); they expire by themselves within 60 s");
        output.WriteLine();
        if (r.DryRun)
        {
            if (r.Targets.Count > 0)
                foreach (var line in DiagnoseTerminalRenderer.Wrap($"Nothing was destroyed (dry run). Run again with --yes, as root, to destroy exactly these {r.Targets.Count} socket(s): their owners get ECONNABORTED and their peers a RST.", o.Width, 0, 0))
                    output.WriteLine(line);
        }
        else
        {
            int gone = r.TargetsGone;
            output.WriteLine($"check: {gone} of {r.Targets.Count} target(s) gone from the socket table" + (gone < r.Targets.Count ? $", {r.Targets.Count - gone} still there" : ""));
            int peers = r.OthersGone.Count(g => g.PeerOfTarget);
            var sb = new StringBuilder($"check: {r.OthersBefore} other socket(s) existed before: {r.OthersStillThere} still there");
            if (r.OthersGone.Count > 0)
            {
                sb.Append($", {r.OthersGone.Count} gone");
                if (peers > 0) sb.Append($" ({peers} the local other end of a destroyed connection, reset by it)");
            }
            foreach (var line in DiagnoseTerminalRenderer.Wrap(sb.ToString(), o.Width, 0, 7)) output.WriteLine(line);
            foreach (var g in r.OthersGone.Where(g => !g.PeerOfTarget).Take(10))
                output.WriteLine($"  gone by itself: {TcpStates.Name(g.Socket.DisplayState)} {SocketGrouper.FormatEndpoint(g.Socket.Local)} -> {SocketGrouper.FormatEndpoint(g.Socket.Remote)} (not one the kill named: each destroy names one socket by its cookie)");
        }
        var statuses = r.Before.Statuses.Concat(r.After.Select(s => s with { Source = s.Source + " (after)" }));
        foreach (var line in SourceNotes.Problems(statuses)) output.WriteLine(line);
    }
}
