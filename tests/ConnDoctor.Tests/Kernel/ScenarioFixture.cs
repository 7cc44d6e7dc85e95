using System.Diagnostics;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>
/// One namespace with real processes: a server; a leaky client that never closes the connections the
/// server closed (CLOSE_WAIT); a well-behaved client holding connections (IPv4, IPv6, dual-stack) and
/// making short connections it closes itself (TIME_WAIT).
/// </summary>
public sealed class ScenarioFixture : IDisposable
{
    public const int LeakyCount = 12;
    public TestNetns Ns { get; }
    public Process Server { get; }
    public Process Leaky { get; }
    public Process Good { get; }

    public ScenarioFixture()
    {
        Ns = new TestNetns("scen");
        Server = Ns.StartScenario("server", "--listen", "127.0.0.1:9001:close", "--listen", "127.0.0.1:8080:hold",
            "--listen", "127.0.0.1:9003:drain", "--listen", "[::1]:9004:hold", "--listen", "[::]:9005:hold");
        Leaky = Ns.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", LeakyCount.ToString());
        Good = Ns.StartScenario("good", "--connect", "127.0.0.1:8080,[::1]:9004,127.0.0.1:9005", "--count", "3",
            "--churn", "127.0.0.1:9003", "--cycles", "30");
    }

    public void Dispose() => Ns.Dispose();
}
