namespace ConnDoctor.Sources.AppLog;

/// <summary>Which open files look like logs: the names log4j, logback, java.util.logging, nohup and service scripts give them.</summary>
public static class AppLogNames
{
    /// <summary>
    /// app.log, app.out, catalina.out, app.log.1, app.2024-01-31.log, app.log.0 (JUL's FileHandler), nohup.out, *.err; never a GC log
    /// (-Xloggc, -Xlog:gc), a compressed rotation (it is closed), or ZooKeeper's transaction logs (log.N in version-2).
    /// </summary>
    public static bool IsLogName(string path)
    {
        var name = Path.GetFileName(path);
        if (name.Contains("gc", StringComparison.OrdinalIgnoreCase) && (name.StartsWith("gc", StringComparison.OrdinalIgnoreCase) || name.Contains("-gc") || name.Contains("_gc") || name.Contains(".gc"))) return false;
        if (name.EndsWith(".gz", StringComparison.Ordinal) || name.EndsWith(".zip", StringComparison.Ordinal)) return false;
        if (name.StartsWith("log.", StringComparison.Ordinal) && path.Contains("/version-2/", StringComparison.Ordinal)) return false;
        if (name.EndsWith(".log", StringComparison.Ordinal) || name.EndsWith(".out", StringComparison.Ordinal) || name.EndsWith(".err", StringComparison.Ordinal)) return true;
        int i = name.IndexOf(".log.", StringComparison.Ordinal);
        return i > 0 && name.Length > i + 5 && char.IsDigit(name[i + 5]);
    }

    /// <summary>A ZooKeeper server's log: a log file that is not its audit log (3.6+ zookeeper_audit.log, a different format).</summary>
    public static bool IsServerLogName(string path) => IsLogName(path) && !Path.GetFileName(path).Contains("audit", StringComparison.OrdinalIgnoreCase);
}
