using ConnDoctor.Actions;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`kill --json`: the filter, every target with why it matches (and, after --yes, the kernel's answer), and the check.</summary>
public static class KillJsonRenderer
{
    public static void Render(KillReport r, IReadOnlyList<string> filterArguments, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        var e = r.Before;
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "kill", e.Host, e.CollectedAt);
        w.WriteBoolean("dryRun", r.DryRun);
        w.WriteStartArray("filter");
        foreach (var a in filterArguments) w.WriteStringValue(a);
        w.WriteEndArray();
        w.WriteStartObject("kernel");
        w.WriteString("release", r.KernelRelease);
        w.WriteBoolean("destroysTimeWait", r.KernelDestroysTimeWait);
        w.WriteEndObject();
        JsonCommon.WriteSources(w, r.DryRun ? e.Statuses : e.Statuses.Concat(r.After.Select(s => s with { Source = s.Source + ":after" })));
        JsonCommon.WriteNamespaces(w, e.Namespaces);
        w.WriteNumber("listenersSkipped", r.ListenersSkipped);
        var results = r.Results.ToDictionary(x => x.Target);
        w.WriteStartArray("targets");
        foreach (var t in r.Targets)
        {
            w.WriteStartObject();
            SocketsJsonRenderer.WriteSocketFields(w, e, t.Socket);
            w.WriteString("cookie", t.Socket.Cookie.ToString("x16"));
            w.WriteStartArray("why");
            foreach (var why in t.Why) w.WriteStringValue(why);
            w.WriteEndArray();
            if (results.TryGetValue(t, out var res))
            {
                w.WriteString("result", OutcomeName(res.Outcome));
                if (res.Errno > 0) w.WriteNumber("errno", res.Errno);
                w.WriteString("detail", res.Detail);
                w.WriteBoolean("goneAfter", !res.StillThere);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (!r.DryRun)
        {
            w.WriteStartObject("check");
            w.WriteNumber("targets", r.Targets.Count);
            w.WriteNumber("destroyed", r.Destroyed);
            w.WriteNumber("targetsGone", r.TargetsGone);
            w.WriteNumber("othersBefore", r.OthersBefore);
            w.WriteNumber("othersStillThere", r.OthersStillThere);
            w.WriteStartArray("othersGone");
            foreach (var g in r.OthersGone)
            {
                w.WriteStartObject();
                w.WriteString("state", TcpStates.Name(g.Socket.DisplayState));
                w.WriteString("local", SocketGrouper.FormatEndpoint(g.Socket.Local));
                w.WriteString("remote", SocketGrouper.FormatEndpoint(g.Socket.Remote));
                if (e.Namespaces.Count > 1 || g.Netns.Label != "host") w.WriteString("netns", g.Netns.Label);
                w.WriteBoolean("peerOfTarget", g.PeerOfTarget);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.Flush();
    }

    public static string OutcomeName(KillOutcome o) => o switch
    {
        KillOutcome.Destroyed => "destroyed",
        KillOutcome.AlreadyGone => "already-gone",
        KillOutcome.Replaced => "replaced",
        KillOutcome.NotSupported => "not-supported",
        KillOutcome.Denied => "denied",
        KillOutcome.NotTried => "not-tried",
        _ => "failed",
    };
}
