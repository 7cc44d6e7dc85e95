using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>One kind of message fills the log: the answer to "why is this log 6 GB", and what produces it.</summary>
public sealed class LogFloodRule : IRule
{
    public string Id => "log-flood";
    public string Description => "one kind of message fills most of the ZooKeeper log";

    private const double DominantShare = 0.5;
    private const long InfoBytes = 1L << 20, WarnBytesPerDay = 1L << 30;
    private const long MinLines = 1000;     // a flood is many messages: one 20 MiB line (a payload logged whole) is not one

    public bool Reads(Evidence e) => e.ZkLog != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.ZkLog is not { } log || log.Bytes == 0) yield break;
        var top = log.Kinds.Where(k => k.Kind != "unrecognised").MaxBy(k => k.Bytes);
        if (top == null) yield break;
        double share = (double)top.Bytes / log.Bytes;
        if (share < DominantShare || top.Bytes < InfoBytes || top.Lines < MinLines) yield break;
        double minutes = log.First is DateTime f && log.Last is DateTime l ? Math.Max(1, (l - f).TotalMinutes) : 1;
        double perDay = top.Bytes * 1440.0 / minutes;
        var blamed = top.Kind switch
        {
            "end-of-stream" or "closed-no-session" or "accepted" => "reconnect-storm",
            "refused-max-cnxns" => "connection-limit",
            "session-expired" => "session-expiry-storm",
            _ => null,
        };
        yield return new Finding
        {
            RuleId = Id,
            Severity = perDay >= WarnBytesPerDay ? Severity.Warning : Severity.Info,
            Subject = new FindingSubject { Process = "zookeeper log" },
            Summary = $"'{top.Kind}' messages are {Format.Percent(share)} of the log: {Format.Bytes(top.Bytes)} of {Format.Bytes(log.Bytes)}, about {Format.Bytes((long)perDay)} a day",
            Evidence =
            [
                $"{top.Lines} line(s) of '{top.Kind}' (stack traces included) in {Format.Bytes(log.Bytes)} over {Format.Duration(TimeSpan.FromMinutes(minutes))}",
                "next largest: " + string.Join(", ", log.Kinds.Where(k => k != top && k.Bytes > 0).Take(3).Select(k => $"{k.Kind} {Format.Percent((double)k.Bytes / log.Bytes)}")),
            ],
            Cause = "The log grows with one message, written for each event of one kind" + (blamed != null ? $": the events the {blamed} finding describes." : ".") +
                    " Each end of stream costs a WARN line and a stack trace of about a kilobyte, so a client reconnecting every few milliseconds writes gigabytes a day.",
            Remedy = (blamed != null ? $"Fix the cause ({blamed}); the flood stops with it. " : "") +
                     "Meanwhile keep the log bounded: a rolling appender with a size cap (log4j RollingFileAppender MaxFileSize/MaxBackupIndex, " +
                     "logback SizeAndTimeBasedRollingPolicy with totalSizeCap) instead of zookeeper.out from the console appender. Raising the level " +
                     "of the whole server to ERROR also hides the next incident.",
        };
    }

}
