using System.Text;
using ConnDoctor.Sources.ZkWire;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// Our wire client against a real ZooKeeper 3.8, with kazoo (a real third-party client) as the other side. The tests
/// share one standalone server (each works in its own znodes); those that need another configuration start their own.
/// </summary>
public class ZkClientServerTests(StandaloneFixture shared) : IClassFixture<StandaloneFixture>
{
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);   // a bound, generous for a loaded machine

    private static ZkClient Connect(ZooKeeperServer zk) => ZkClient.Connect(zk.Host, zk.Port, Timeout, sessionTimeoutMs: 5000);

    [Fact]
    public void ASessionWeOpenIsTheOneTheServerListsWithOurPortAndIsGoneAfterClose()
    {
        var zk = shared.Zk;
        var client = Connect(zk);
        string sid = $"0x{client.SessionId:x}";
        string us = $"/127.0.0.1:{client.LocalEndPoint.Port}[";
        Assert.NotEqual(0, client.SessionId);
        Assert.Equal(IPAddressLoopback, client.LocalEndPoint.Address.ToString());
        Assert.Equal(zk.Port, client.RemoteEndPoint.Port);
        Assert.Equal(5000, client.NegotiatedTimeoutMs);   // inside the server's 4000..6000 bounds: granted as asked
        Assert.False(client.IsReadOnly);                   // a standalone server is read-write
        client.Ping();

        var cons = zk.FourLetter("cons")!;
        var line = cons.Split('\n').SingleOrDefault(l => l.Contains(us));
        Assert.True(line != null, cons);
        Assert.Contains($"sid={sid},", line);
        Assert.Contains("lop=PING", line);                 // the server saw our ping as the last operation
        Assert.Contains("to=5000", line);
        Assert.Contains(sid, zk.FourLetter("dump"));

        client.Close();
        cons = zk.AwaitFourLetter("cons", c => !c.Contains(us));
        Assert.DoesNotContain(us, cons);
        var dump = zk.AwaitFourLetter("dump", d => !d.Contains(sid));
        Assert.DoesNotContain(sid, dump);                  // closeSession ended the session, not just the socket

        var after = Assert.Throws<ZkException>(client.Ping);
        Assert.Equal(ZkErrorCode.ConnectionLoss, after.Code);
        Assert.Equal($"zookeeper 127.0.0.1:{zk.Port}: ping: the client is closed", after.Message);
        client.Close();                                    // a second close is a no-op
        client.Dispose();
    }

    private const string IPAddressLoopback = "127.0.0.1";

    [Fact]
    public void NodesKazooCreatedReadTheSameThroughOurClient()
    {
        var zk = shared.Zk;
        using var kazoo = new KazooTree(zk, "/cd-k", ephemerals: 3, persistents: 2, data: "hello kazoo");
        using var client = Connect(zk);

        var theirs = KazooTree.List(zk, "/cd-k");
        var ours = client.GetChildren("/cd-k");
        Assert.Equal(theirs.Keys.Order(StringComparer.Ordinal), ours.Order(StringComparer.Ordinal));
        Assert.Equal(6, ours.Count);                       // eph-0..2, per-0..1, sub

        foreach (var name in ours)
        {
            var stat = client.Exists($"/cd-k/{name}");
            Assert.NotNull(stat);
            Assert.Equal(theirs[name].Owner, stat.Value.EphemeralOwner);
            Assert.Equal(name.StartsWith("eph-") ? kazoo.SessionId : 0, stat.Value.EphemeralOwner);
            Assert.Equal(name.StartsWith("eph-"), stat.Value.IsEphemeral);
            var (data, dataStat) = client.GetData($"/cd-k/{name}");
            Assert.Equal(theirs[name].DataHex, Convert.ToHexStringLower(data));
            Assert.Equal(stat.Value, dataStat);
            Assert.Equal(data.Length, dataStat.DataLength);
        }
        Assert.Equal("hello kazoo", Encoding.UTF8.GetString(client.GetData("/cd-k/eph-0").Data));

        var (children, parent) = client.GetChildren2("/cd-k/sub");
        Assert.Equal(["eph-0", "eph-1", "eph-2", "per-0", "per-1"], children.Order(StringComparer.Ordinal));
        Assert.Equal(5, parent.NumChildren);
        Assert.Equal(0, parent.EphemeralOwner);
        Assert.True(parent.Cversion >= 5);                 // five children created under it
        Assert.True(parent.Pzxid >= parent.Czxid && parent.Czxid > 0);
        Assert.True(client.LastZxid >= parent.Pzxid);

        Assert.Null(client.Exists("/cd-k/missing"));
        var noNode = Assert.Throws<ZkException>(() => client.GetChildren("/cd-k/missing"));
        Assert.Equal(ZkErrorCode.NoNode, noNode.Code);
        Assert.Equal($"zookeeper 127.0.0.1:{zk.Port}: getChildren /cd-k/missing: NoNode", noNode.Message);
        client.Ping();                                     // a server error leaves the session usable

        // When kazoo closes its session, its ephemeral nodes go with it; ours to read stay consistent.
        kazoo.Dispose();
        Assert.Equal(["per-0", "per-1", "sub"], client.GetChildren("/cd-k").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void NodesOurClientCreatesAreSeenByKazooAndOurEphemeralsEndWithOurSession()
    {
        var zk = shared.Zk;
        var client = Connect(zk);
        Assert.Equal("/cd-ours", client.Create("/cd-ours", "parent"u8, ZkCreateMode.Persistent));
        Assert.Equal("/cd-ours/keep", client.Create("/cd-ours/keep", [0, 1, 2, 255], ZkCreateMode.Persistent));
        Assert.Equal("/cd-ours/mine", client.Create("/cd-ours/mine", "ephemeral"u8, ZkCreateMode.Ephemeral));
        var seq1 = client.Create("/cd-ours/task-", [], ZkCreateMode.EphemeralSequential);
        var seq2 = client.Create("/cd-ours/task-", [], ZkCreateMode.EphemeralSequential);
        Assert.Matches("^/cd-ours/task-[0-9]{10}$", seq1);
        Assert.True(string.CompareOrdinal(seq1, seq2) < 0, $"{seq1} then {seq2}");
        var exists = Assert.Throws<ZkException>(() => client.Create("/cd-ours/keep", [], ZkCreateMode.Persistent));
        Assert.Equal(ZkErrorCode.NodeExists, exists.Code);
        var noParent = Assert.Throws<ZkException>(() => client.Create("/cd-nope/x", [], ZkCreateMode.Persistent));
        Assert.Equal(ZkErrorCode.NoNode, noParent.Code);

        var kazoo = KazooTree.List(zk, "/cd-ours");
        Assert.Equal(["keep", "mine", seq1[9..], seq2[9..]], kazoo.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((0L, "000102ff"), kazoo["keep"]);
        Assert.Equal((client.SessionId, Convert.ToHexStringLower("ephemeral"u8)), kazoo["mine"]);
        Assert.Equal(client.SessionId, kazoo[seq1[9..]].Owner);

        client.Delete(seq2);
        Assert.Null(client.Exists(seq2));
        client.Close();
        Assert.Equal(["keep"], KazooTree.List(zk, "/cd-ours").Keys);   // closeSession removed our ephemerals at once
    }

    [Fact]
    public void TheListerNamesEveryNodeWithItsOwnerOnAMixedTree()
    {
        var zk = shared.Zk;
        using var kazoo = new KazooTree(zk, "/cd-app", ephemerals: 2, persistents: 1, data: "x");
        using var client = Connect(zk);
        client.Create("/cd-app/ours", [], ZkCreateMode.Ephemeral);
        client.Create("/cd-app/sub/ours-", [], ZkCreateMode.EphemeralSequential);

        var top = ZkEphemeralLister.List(client, "/cd-app");
        Assert.Equal(["/cd-app/eph-0", "/cd-app/eph-1", "/cd-app/ours", "/cd-app/per-0", "/cd-app/sub"], top.Select(n => n.Path));
        var owners = top.ToDictionary(n => n.Path, n => n.Stat.EphemeralOwner);
        Assert.Equal(kazoo.SessionId, owners["/cd-app/eph-0"]);
        Assert.Equal(kazoo.SessionId, owners["/cd-app/eph-1"]);
        Assert.Equal(client.SessionId, owners["/cd-app/ours"]);
        Assert.Equal(0, owners["/cd-app/per-0"]);
        Assert.Equal(4, top.Single(n => n.Path == "/cd-app/sub").Stat.NumChildren);

        var deep = ZkEphemeralLister.List(client, "/cd-app", depth: 2);
        Assert.Equal(9, deep.Count);
        var bySession = deep.Where(n => n.Stat.IsEphemeral).GroupBy(n => n.Stat.EphemeralOwner).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(4, bySession[kazoo.SessionId]);       // eph-0, eph-1 at both levels
        Assert.Equal(2, bySession[client.SessionId]);
        Assert.Equal(kazoo.Nodes.Where(n => n.Contains("/eph-")).Order(StringComparer.Ordinal),
            deep.Where(n => n.Stat.EphemeralOwner == kazoo.SessionId).Select(n => n.Path));
        Assert.Matches("^/cd-app/sub/ours-[0-9]{10}$", deep.Single(n => n.Path.StartsWith("/cd-app/sub/ours-")).Path);

        Assert.Equal(deep, ZkEphemeralLister.List(client, "/cd-app", depth: 5)); // nothing deeper exists
        var root = ZkEphemeralLister.List(client, "/");
        Assert.Contains(root, n => n.Path == "/cd-app");
        Assert.Contains(root, n => n.Path == "/zookeeper");
        var missing = Assert.Throws<ZkException>(() => ZkEphemeralLister.List(client, "/cd-none"));
        Assert.Equal(ZkErrorCode.NoNode, missing.Code);
        var bad = Assert.Throws<ZkException>(() => ZkEphemeralLister.List(client, "cd-app"));
        Assert.Equal(ZkErrorCode.BadArguments, bad.Code);
        client.Ping();                                     // a refused path is not a broken connection
    }

    [Fact]
    public void AServerAtItsMaxClientCnxnsLimitIsAClearErrorNotAHang()
    {
        using var zk = new ZooKeeperServer(maxClientCnxns: 1);
        using var held = new System.Net.Sockets.TcpClient();
        held.Connect(System.Net.IPAddress.Loopback, zk.Port);
        // The server counts a connection once its selector has registered it: wait until it refuses a four-letter word.
        zk.AwaitFourLetter("ruok", r => r != "imok");

        var ex = BadServers.Within(() => ZkClient.Connect("127.0.0.1", zk.Port, TimeSpan.FromSeconds(3)));
        Assert.Equal(ZkErrorCode.ConnectionLoss, ex.Code);
        Assert.StartsWith($"zookeeper 127.0.0.1:{zk.Port}: connect: ", ex.Message);
        Assert.True(ex.Message.Contains("maxClientCnxns"), ex.Message);
        Assert.DoesNotContain('\n', ex.Message);

        held.Close();
        // With the slot free again the same call succeeds (bounded retries while the server notices the close).
        ZkClient? client = null;
        for (int i = 0; i < 50 && client == null; i++)
        {
            try { client = ZkClient.Connect("127.0.0.1", zk.Port, TimeSpan.FromSeconds(3)); }
            catch (ZkException) { Thread.Sleep(100); }
        }
        Assert.NotNull(client);
        client.Dispose();
    }

    [Fact]
    public void AMemberCutOffFromItsQuorumAnswersOurReadOnlySessionAndRefusesWrites()
    {
        using var ensemble = new ZooKeeperEnsemble(started: 1, readOnlyMode: true, localSessions: true);
        var member = ensemble.Members[0];
        Assert.Equal("read-only", member.Mode());
        using var client = ZkClient.Connect(member.Host, member.Port, Timeout);   // refused if we had not asked for read-only
        Assert.True(client.IsReadOnly);
        Assert.NotEqual(0, client.SessionId);
        Assert.Contains("zookeeper", client.GetChildren("/"));
        Assert.Equal(0, client.Exists("/zookeeper")!.Value.EphemeralOwner);
        var write = Assert.Throws<ZkException>(() => client.Create("/cd-ro", [], ZkCreateMode.Persistent));
        Assert.Equal(ZkErrorCode.NotReadOnly, write.Code);
        Assert.Equal($"zookeeper {member.Address}: create /cd-ro: NotReadOnly", write.Message);
        client.Ping();
    }

    [Fact]
    public void AReadOnlyMemberThatOpensNoNewSessionsSaysSo()
    {
        using var ensemble = new ZooKeeperEnsemble(started: 1, readOnlyMode: true, localSessions: false);
        var member = ensemble.Members[0];
        Assert.Equal("read-only", member.Mode());
        var ex = BadServers.Within(() => ZkClient.Connect(member.Host, member.Port, Timeout));
        Assert.Equal(ZkErrorCode.NotReadOnly, ex.Code);
        Assert.Equal($"zookeeper {member.Address}: connect: the server refused the session with NotReadOnly (a member in read-only mode that creates no new sessions; localSessionsEnabled=true lets it)", ex.Message);
    }

    /// <summary>(session, path) pairs from the "Sessions with Ephemerals" section of a dump.</summary>
    internal static List<(long Session, string Path)> DumpedEphemerals(string dump)
    {
        var pairs = new List<(long, string)>();
        long session = 0;
        bool inSection = false;
        foreach (var line in dump.Split('\n'))
        {
            if (line.StartsWith("Sessions with Ephemerals")) { inSection = true; continue; }
            if (!inSection) continue;
            if (line.StartsWith("Connections dump")) break;
            if (line.StartsWith("0x") && line.EndsWith(':')) session = Convert.ToInt64(line[2..^1], 16);
            else if (line.StartsWith("\t/")) pairs.Add((session, line[1..]));
        }
        return pairs;
    }
}

/// <summary>Our wire client on a follower of the shared three-server ensemble.</summary>
[Collection(EnsembleFixture.Collection)]
public class ZkClientEnsembleTests(EnsembleFixture f)
{
    [Fact]
    public void OnAFollowerTheListerFindsTheSameEphemeralsAndOwnersAsTheServersDump()
    {
        var ensemble = f.Ensemble;
        ZooKeeperServer leader = ensemble.MemberIn("leader"), follower = ensemble.MemberIn("follower");
        using var kazoo = new KazooTree(leader.Address, "/cd-clients", ephemerals: 3, persistents: 1, data: "");
        using var client = ZkClient.Connect(follower.Host, follower.Port, ZkClientServerTests.Timeout);
        Assert.False(client.IsReadOnly);

        // A follower applies the leader's commits a moment later: poll (bounded) until it has all of them.
        IReadOnlyList<ZkNodeInfo> nodes = [];
        for (int i = 0; i < 50 && nodes.Count < 10; i++, Thread.Sleep(100))
            nodes = ZkEphemeralLister.List(client, "/cd-clients", depth: 2);
        var ephemerals = nodes.Where(n => n.Stat.IsEphemeral).ToList();
        Assert.Equal(6, ephemerals.Count);
        Assert.All(ephemerals, n => Assert.Equal(kazoo.SessionId, n.Stat.EphemeralOwner));
        Assert.Equal(["/cd-clients/per-0", "/cd-clients/sub", "/cd-clients/sub/per-0"], nodes.Where(n => !n.Stat.IsEphemeral).Select(n => n.Path));

        // The oracle: the follower's own dump ("Sessions with Ephemerals"), which 3.8 fills on followers as well; the
        // ensemble is shared, so only what lies under our path.
        var dumped = ZkClientServerTests.DumpedEphemerals(follower.FourLetter("dump")!).Where(x => x.Path.StartsWith("/cd-clients/")).ToList();
        Assert.Equal(dumped.Order(), ephemerals.Select(n => (n.Stat.EphemeralOwner, n.Path)).Order());
    }
}
