using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>Every rule, once. --rule switches, docs and `diagnose` all come from this list.</summary>
public static class RuleRegistry
{
    public static readonly IReadOnlyList<IRule> All =
    [
        new CloseWaitLeakRule(),
        new TimeWaitPressureRule(),
        new HalfOpenSuspectRule(),
        new ReconnectStormRule(),
        new ConnectionLimitRule(),
        new SessionExpiryStormRule(),
        new LogFloodRule(),
        new UnreadDataResetRule(),
        new RefusedStormRule(),
        new RetransmissionHeavyRule(),
        new RstStormRule(),
        new SessionLeakRule(),
        new EphemeralPortsRule(),
        new TimeWaitSettingsRule(),
        new DeadPeerDetectionRule(),
        new ListenBacklogRule(),
        new ZooKeeperConfigRule(),
    ];

    public static IRule? Find(string id) => All.FirstOrDefault(r => r.Id == id);
}
