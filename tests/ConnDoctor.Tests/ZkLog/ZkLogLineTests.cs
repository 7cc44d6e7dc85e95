using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Sources.ZkLog;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>The exact lines each ZooKeeper version writes (see fixtures/zklog/README.md for where they come from).</summary>
public class ZkLogLineTests
{
    private static ZkLine P(string line) => ZkLogLine.Parse(Encoding.UTF8.GetBytes(line));

    [Theory]
    // 3.4 (incident 000's log), [myid:] layout
    [InlineData("2016-09-19 22:48:54,351 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@197] - Accepted socket connection from /10.0.20.141:37713", ZkMessageKind.Accepted, "10.0.20.141")]
    [InlineData("2016-09-19 22:48:54,347 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /10.0.20.101:54584 (no session established for client)", ZkMessageKind.ClosedNoSession, "10.0.20.101")]
    [InlineData("2016-09-19 22:49:30,100 [myid:] - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@193] - Too many connections from /10.0.20.9 - max is 60", ZkMessageKind.Refused, "10.0.20.9")]
    [InlineData("2016-09-19 22:48:55,012 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:ZooKeeperServer@868] - Client attempting to establish new session at /10.0.20.7:51000", ZkMessageKind.SessionAttempt, "10.0.20.7")]
    [InlineData("2016-09-19 22:48:55,020 [myid:] - INFO  [SyncThread:0:ZooKeeperServer@617] - Established session 0x157434bfd9a0001 with negotiated timeout 30000 for client /10.0.20.7:51000", ZkMessageKind.SessionEstablished, "10.0.20.7")]
    [InlineData("2016-09-19 22:50:31,001 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /10.0.20.7:51000 which had sessionid 0x157434bfd9a0001", ZkMessageKind.ClosedWithSession, "10.0.20.7")]
    [InlineData("2016-09-19 22:51:02,000 [myid:] - INFO  [SessionTracker:ZooKeeperServer@347] - Expiring session 0x157434bfd9a0001, timeout of 30000ms exceeded", ZkMessageKind.SessionExpired, null)]
    // 3.8.0 (Debian's package, real runs), Debian's layout without [myid]
    [InlineData("2026-11-23 19:31:00,707 - WARN  [NIOServerCxnFactory.AcceptThread:/127.0.0.1:21810:RateLogger@87] - Message:Error accepting new connection: Too many connections from /127.0.0.1 - max is 10 Value:null", ZkMessageKind.Refused, "127.0.0.1")]
    [InlineData("2026-11-23 19:31:02,409 - WARN  [NIOServerCxnFactory.AcceptThread:/127.0.0.1:21810:RateLogger@57] - [2 times] Message: Error accepting new connection: Too many connections from /127.0.0.1 - max is 10", ZkMessageKind.Refused, "127.0.0.1")]
    [InlineData("2026-11-23 19:31:29,640 - DEBUG [NIOServerCxnFactory.AcceptThread:/127.0.0.1:21810:NIOServerCnxnFactory$AcceptThread@272] - Accepted socket connection from /127.0.0.1:34274", ZkMessageKind.Accepted, "127.0.0.1")]
    [InlineData("2026-11-23 19:31:29,938 - DEBUG [NIOWorkerThread-2:ZooKeeperServer@1445] - Client attempting to establish new session: session = 0x1000023f76e0000, zxid = 0x0, timeout = 4000, address = /127.0.0.1:34290", ZkMessageKind.SessionAttempt, "127.0.0.1")]
    [InlineData("2026-11-23 19:31:29,946 - DEBUG [SyncThread:0:ZooKeeperServer@1079] - Established session 0x1000023f76e0000 with negotiated timeout 4000 for client /127.0.0.1:34290", ZkMessageKind.SessionEstablished, "127.0.0.1")]
    [InlineData("2026-11-23 19:31:29,973 - DEBUG [NIOWorkerThread-3:NIOServerCnxn@629] - Closed socket connection for client /127.0.0.1:34290 which had sessionid 0x1000023f76e0000", ZkMessageKind.ClosedWithSession, "127.0.0.1")]
    [InlineData("2026-11-23 19:30:48,943 - INFO  [SessionTracker:ZooKeeperServer@632] - Expiring session 0x1000023425b0001, timeout of 4000ms exceeded", ZkMessageKind.SessionExpired, null)]
    [InlineData("2026-11-23 19:30:43,335 - INFO  [NIOWorkerThread-1:NIOServerCnxn@517] - Processing srvr command from /127.0.0.1:58142", ZkMessageKind.FourLetterWord, "127.0.0.1")]
    // upstream logback layout with [myid:N], IPv6 and resolved host forms
    [InlineData("2024-02-01 10:00:00,001 [myid:3] - INFO  [NIOServerCxnFactory.AcceptThread:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory$AcceptThread@296] - Accepted socket connection from /0:0:0:0:0:0:0:1:41234", ZkMessageKind.Accepted, "::1")]
    [InlineData("2024-02-01 10:00:00,001 [myid:3] - WARN  [NIOServerCxnFactory.AcceptThread:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@193] - Too many connections from app7.example.com/10.1.2.3 - max is 60", ZkMessageKind.Refused, "10.1.2.3")]
    public void ClassifiesTheMessagesOfEachVersion(string line, ZkMessageKind kind, string? ip)
    {
        var z = P(line);
        Assert.True(z.Timestamped);
        Assert.False(z.Malformed);
        Assert.Equal(kind, z.Kind);
        Assert.Equal(ip != null, z.HasIp);
        if (ip != null) Assert.Equal(ip, z.Ip.ToString());
    }

    [Fact]
    public void ReadsSessionsLimitsAndRepeatCounts()
    {
        var established = P("2016-09-19 22:48:55,020 [myid:] - INFO  [SyncThread:0:ZooKeeperServer@617] - Established session 0x157434bfd9a0001 with negotiated timeout 30000 for client /10.0.20.7:51000");
        Assert.Equal(0x157434bfd9a0001UL, established.Session);
        var repeated = P("2026-11-23 19:31:02,409 - WARN  [NIOServerCxnFactory.AcceptThread:/127.0.0.1:21810:RateLogger@57] - [2 times] Message: Error accepting new connection: Too many connections from /127.0.0.1 - max is 10");
        Assert.Equal((2, 10), (repeated.Count, repeated.Limit));
        var once = P("2026-11-23 19:31:00,707 - WARN  [NIOServerCxnFactory.AcceptThread:/127.0.0.1:21810:RateLogger@87] - Message:Error accepting new connection: Too many connections from /127.0.0.1 - max is 10 Value:null");
        Assert.Equal((1, 10), (once.Count, once.Limit));
    }

    [Fact]
    public void EndOfStreamNeedsTheLineAfterTheMessage()
    {
        var v38 = P("2026-11-23 19:30:44,151 - WARN  [NIOWorkerThread-3:NIOServerCnxn@374] - Unexpected exception");
        Assert.True(v38.AwaitsEndOfStream);
        Assert.True(ZkLogLine.TryEndOfStream("EndOfStreamException: Unable to read additional data from client, it probably closed the socket: address = /127.0.0.1:58330, session = 0x1000023425b0001"u8, ref v38));
        Assert.Equal((ZkMessageKind.EndOfStream, "127.0.0.1", 0x1000023425b0001UL), (v38.Kind, v38.Ip.ToString(), v38.Session));

        var v34 = P("2016-09-19 22:48:54,351 [myid:] - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@357] - caught end of stream exception");
        Assert.True(v34.AwaitsEndOfStream);
        Assert.True(ZkLogLine.TryEndOfStream("EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket"u8, ref v34));
        Assert.Equal((ZkMessageKind.EndOfStream, false, 0UL), (v34.Kind, v34.HasIp, v34.Session));

        var other = P("2026-11-23 19:30:44,151 - WARN  [NIOWorkerThread-3:NIOServerCnxn@374] - Unexpected exception");
        Assert.False(ZkLogLine.TryEndOfStream("java.io.IOException: Connection reset by peer"u8, ref other));
        Assert.Equal(ZkMessageKind.Other, other.Kind);
    }

    [Theory]
    [InlineData("2016-09-19 22:48:54,351 some other program's message")]
    [InlineData("2016-09-19 22:48:54,351 [myid:1] WARN no dash layout")]
    public void TimestampedLinesOfAnotherLayoutAreMalformed(string line) => Assert.True(P(line).Malformed);

    [Theory]
    [InlineData("\tat org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:228)")]
    [InlineData("")]
    [InlineData("2016-9-19 22:48:54,351 - INFO  [x:Y@1] - short date")]
    public void OtherLinesAreContinuations(string line) => Assert.False(P(line).Timestamped);

    [Theory]
    [InlineData("60", 60)]
    [InlineData("7", 7)]
    [InlineData("0060", 60)]
    [InlineData("100000", 100000)]          // past the in-place digits: read as Utf8Parser reads it
    [InlineData("2147483647", int.MaxValue)]
    [InlineData("2147483648", 0)]            // does not fit: no limit, as before
    [InlineData("60 Value:null", 60)]
    public void TheRefusalLimitIsTheNumberAfterMaxIs(string number, int limit)
    {
        var line = P($"2016-09-19 22:49:30,100 [myid:] - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@193] - Too many connections from /10.0.20.9 - max is {number}");
        Assert.Equal((ZkMessageKind.Refused, limit), (line.Kind, line.Limit));
    }

    [Fact]
    public void ReadingPastTheLineNeverChangesItsParse()
    {
        // In a buffer the next line follows; the vector searches may load it. Junk made of what they look for.
        // The contract is stronger than a buffer needs: the bytes right after the line may be anything, digits too.
        foreach (var junkText in new[] { "\n@12] - 0xfeedface 10.9.8.7:1 - max is 99 /10.1.1.1:2 ]]] @@@ : 0123456789abcdef", "0123456789] - 0xfeed 7.7.7.7 :99 " })
        {
            var junk = Encoding.ASCII.GetBytes(junkText + new string(' ', 64));
            var memo = new ZkAddressMemo();
            foreach (var file in Directory.GetFiles(ConnDoctor.Tests.Infra.Fixtures.Dir("zklog"), "*.log"))
                for (int pass = 0; pass < 2; pass++)                  // the second pass finds the addresses in the memo
                    foreach (var line in File.ReadAllLines(file).Select(Encoding.UTF8.GetBytes).Where(l => ZkLogLine.IsTimestamp(l)))
                    {
                        var alone = ZkLogLine.Parse(line);
                        var text = line.Concat(junk).ToArray();
                        var inBuffer = new ZkLine();
                        int hint = 0;
                        ZkLogLine.ParseTimestamped(text, line.Length, ref inBuffer, ref hint, memo);
                        Assert.Equal(Fields(alone), Fields(inBuffer));
                    }
        }
    }

    private static string Fields(ZkLine z) =>
        $"{z.Kind} {z.Malformed} {z.AwaitsEndOfStream} {z.HasIp} {(z.HasIp ? z.Ip.ToString() : "")} {z.HasSession} {z.Session:x} {z.Count} {z.Limit} {z.LocationOpen} {z.LocationClose}";
}
