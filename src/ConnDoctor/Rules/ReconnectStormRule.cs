using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// A client that opens and closes many short connections to one server endpoint: a reconnect loop. Seen from
/// the server's log (per client IP), from a capture (per client -> server:port), later from live events.
/// Each evidence part has its own method; the finding's shape and remedy stay the same.
/// </summary>
public sealed class ReconnectStormRule : IRule
{
    public string Id => "reconnect-storm";
    public string Description => "a client opens and closes many short connections to one server endpoint (a reconnect loop)";

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromServerLog(ctx).Concat(FromCapture(ctx));

    /// <summary>From a ZooKeeper server log (conndoctor zklog).</summary>
    private IEnumerable<Finding> FromServerLog(RuleContext ctx)
    {
        yield break;
    }

    /// <summary>From a packet capture (conndoctor pcap).</summary>
    private IEnumerable<Finding> FromCapture(RuleContext ctx)
    {
        yield break;
    }
}
