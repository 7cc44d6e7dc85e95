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
        // With nothing selected there is nothing to run or not run: "(dry run)" would only confuse a run with --yes.
        output.WriteLine($"conndoctor kill on {e.Host}{where}{(r.DryRun && r.Targets.Count > 0 ? " (dry run)" : "")}");
        WriteWrapped(output, "filter: " + r.FilterText, o.Width, 0, 8);
        // A namespace that could not be read (no permission) may hold matching sockets: say so on this line, not only in a note.
        bool incomplete = SourceNotes.Problems(e.Statuses).Any();
        output.WriteLine(r.Targets.Count == 0 ? (incomplete ? "no socket matches the filter in what could be read (see the notes below)" : "no socket matches the filter")
            : r.DryRun ? $"{r.Targets.Count} socket(s) would be destroyed:" : $"{r.Targets.Count} socket(s) selected:");
        if (r.Targets.Count > 0)
        {
            output.WriteLine();
            var results = r.Results.ToDictionary(x => x.Target);
            var rows = r.Targets.Select(t => (t, Local: SocketGrouper.FormatEndpoint(t.Socket.Local), Peer: SocketGrouper.FormatEndpoint(t.Socket.Remote),
                Owner: OwnerOf(e, t.Socket), Idle: t.Socket.Info is TcpInfo i ? Format.Ms(i.LastDataRecvMs) : "-")).ToList();
            // Columns as wide as the longest address; when long IPv6 endpoints leave no room, peer, owner and idle move to the line below.
            int aw = Math.Max(5, rows.Max(x => Math.Max(x.Local.Length, x.Peer.Length)));
            bool inline = StateWidth + 1 + 2 * (aw + 1) + OwnerWidth + 1 + IdleWidth <= o.Width;
            output.WriteLine(inline ? $"{"STATE",-StateWidth} {"LOCAL".PadRight(aw)} {"PEER".PadRight(aw)} {"PROCESS",-OwnerWidth} IDLE" : $"{"STATE",-StateWidth} LOCAL");
            foreach (var (t, localText, peerText, owner, idle) in rows)
            {
                var s = t.Socket;
                output.WriteLine(inline
                    ? $"{TcpStates.Name(s.DisplayState),-StateWidth} {localText.PadRight(aw)} {peerText.PadRight(aw)} {Fit(owner, OwnerWidth),-OwnerWidth} {idle}"
                    : $"{TcpStates.Name(s.DisplayState),-StateWidth} {localText}");
                string netns = e.Namespaces.Count > 1 ? $"netns {t.Netns.Label}; " : "";
                string held = inline ? "" : $"peer {peerText}, {owner}, idle {idle}; ";
                string detail = results.TryGetValue(t, out var res)
                    ? $"{netns}{held}{res.Detail}{(res.Outcome == KillOutcome.Destroyed ? (res.StillThere ? ", but still in the table" : ", gone from the table") : res.StillThere ? "" : "; not in the table any more")}"
                    : netns + held + "why: " + string.Join(", ", t.Why);
                WriteWrapped(output, detail, o.Width, 2, 4);
            }
        }
        if (r.ListenersSkipped > 0)
            WriteWrapped(output, $"note: {r.ListenersSkipped} listening socket(s) match too; kill never destroys listeners (stop the service instead)", o.Width, 0, 6);
        if (r.Targets.Any(t => t.Socket.State == TcpState.TimeWait))
            WriteWrapped(output, r.KernelDestroysTimeWait
                ? $"note: this kernel ({r.KernelRelease}) destroys TIME_WAIT sockets (Linux 6.0 and later)"
                : $"note: this kernel ({r.KernelRelease}) cannot destroy TIME_WAIT sockets (Linux 6.0 and later can); they expire by themselves within 60 s", o.Width, 0, 6);
        output.WriteLine();
        if (r.DryRun)
        {
            if (r.Targets.Count > 0)
                WriteWrapped(output, $"Nothing was destroyed (dry run). Run again with --yes, as root, to destroy exactly these {r.Targets.Count} socket(s): their owners get ECONNABORTED and their peers a RST.", o.Width, 0, 0);
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
            WriteWrapped(output, sb.ToString(), o.Width, 0, 7);
            foreach (var g in r.OthersGone.Where(g => !g.PeerOfTarget).Take(10))
                WriteWrapped(output, $"gone by itself: {TcpStates.Name(g.Socket.DisplayState)} {SocketGrouper.FormatEndpoint(g.Socket.Local)} -> {SocketGrouper.FormatEndpoint(g.Socket.Remote)} (not one the kill named: each destroy names one socket by its cookie)", o.Width, 2, 4);
        }
        var statuses = r.Before.Statuses.Concat(r.After.Select(s => s with { Source = s.Source + " (after)" }));
        foreach (var line in SourceNotes.Problems(statuses)) output.WriteLine(line);
    }

    private const int StateWidth = 10, OwnerWidth = 16, IdleWidth = 6;

    private static string OwnerOf(Evidence e, SocketRecord s)
    {
        if (s.Owners.Length == 0) return "-";
        string owner = e.Processes.TryGetValue(s.Owners[0].Pid, out var p) ? p.Label : $"pid {s.Owners[0].Pid}";
        return s.Owners.Length > 1 ? owner + $" +{s.Owners.Length - 1}" : owner;
    }

    /// <summary>A label cut to the column, keeping its end ("[pid]" and "+N" say the most).</summary>
    private static string Fit(string text, int width) => text.Length <= width ? text : "~" + text[^(width - 1)..];

    private static void WriteWrapped(TextWriter output, string text, int width, int first, int rest)
    {
        foreach (var line in DiagnoseTerminalRenderer.Wrap(text, width, first, rest)) output.WriteLine(line);
    }
}
