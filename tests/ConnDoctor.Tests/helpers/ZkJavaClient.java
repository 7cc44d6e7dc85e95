// A ZooKeeper client built on the real ZooKeeper Java client (Debian's zookeeper package), for ConnDoctor's tests.
//
//   java -cp CLASSPATH ZkJavaClient SERVER [HOLD_SECONDS]
//
// Opens one session to SERVER (host:port) the way an application does (new ZooKeeper(...): the connection is made by
// the client's own thread "main-SendThread(host:port)"), sets a watch (exists on /cd-java-watch), prints
// "ready PID 0xSESSION" and holds the session until stdin closes or HOLD_SECONDS pass (default 120), then closes it.
// Every state change the client reports is printed as "state NAME". The client's own log (slf4j-simple) goes to
// stdout too, as an application's log would.
//
// Run with a class path whose zookeeper-jute lacks org/apache/zookeeper/proto/SetWatches*.class, it reproduces
// incident 000: once its connection breaks, every reconnect fails in primeConnection (NoClassDefFoundError while it
// re-sends its watches, before the ConnectRequest goes out), and the send thread closes the socket and retries
// after its own backoff, forever.
import java.io.InputStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

public final class ZkJavaClient {
    public static void main(String[] args) throws Exception {
        String server = args[0];
        long hold = args.length > 1 ? Long.parseLong(args[1]) : 120;
        CountDownLatch connected = new CountDownLatch(1);
        Watcher watcher = (WatchedEvent e) -> {
            if (e.getType() == Watcher.Event.EventType.None) {
                System.out.println("state " + e.getState());
                System.out.flush();
                if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
            }
        };
        ZooKeeper zk = new ZooKeeper(server, 4000, watcher);
        if (!connected.await(30, TimeUnit.SECONDS)) {
            System.out.println("failed: no session within 30 s");
            System.out.flush();
            zk.close(2000);
            System.exit(2);
        }
        zk.exists("/cd-java-watch", true);
        System.out.println("ready " + ProcessHandle.current().pid() + " 0x" + Long.toHexString(zk.getSessionId()));
        System.out.flush();
        // Held until stdin closes (the test is done) or the bound passes.
        Thread stdin = new Thread(() -> {
            try {
                InputStream in = System.in;
                while (in.read() >= 0) { }
            } catch (Exception ignored) { }
        }, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        stdin.join(hold * 1000);
        zk.close(2000);
        System.out.println("closed");
        System.out.flush();
        System.exit(0);
    }
}
