// Apache Curator through a leader kill: an ephemeral node, a lock, a distributed counter
// and a protected create, before and after the ensemble's leader dies. Prints a
// transcript that must be the same on Apache ZooKeeper and on zk-server.
//
// Usage: java -cp ... CuratorFailover HOST:PORT,HOST:PORT,HOST:PORT
// The test kills the leader after "phase 1 done" and then writes a line to stdin.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;

public class CuratorFailover {
    static void log(Object... parts) {
        StringBuilder b = new StringBuilder();
        for (Object p : parts) {
            if (b.length() > 0) b.append(' ');
            b.append(p);
        }
        System.out.println(b);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        ExponentialBackoffRetry retry = new ExponentialBackoffRetry(50, 29, 500);
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts)
                .sessionTimeoutMs(6000)
                .connectionTimeoutMs(3000)
                .retryPolicy(retry)
                .build();
        List<ConnectionState> states = Collections.synchronizedList(new ArrayList<>());
        c.getConnectionStateListenable().addListener((client, state) -> states.add(state));
        c.start();
        log("connected:", c.blockUntilConnected(30, TimeUnit.SECONDS));
        long session = c.getZookeeperClient().getZooKeeper().getSessionId();

        c.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL)
                .forPath("/cf/eph", "mine".getBytes());
        CountDownLatch created = new CountDownLatch(1);
        c.checkExists().usingWatcher((org.apache.zookeeper.Watcher) e -> {
            if (e.getType() == org.apache.zookeeper.Watcher.Event.EventType.NodeCreated) {
                log("watch:", e.getType(), e.getPath());
                created.countDown();
            }
        }).forPath("/cf/watched");
        DistributedAtomicLong counter = new DistributedAtomicLong(c, "/cf/counter", retry);
        InterProcessMutex lock = new InterProcessMutex(c, "/cf/lock");
        int ok = 0;
        for (int i = 0; i < 50; i++) {
            if (counter.increment().succeeded()) ok++;
        }
        log("increments before:", ok);
        log("lock before:", lock.acquire(10, TimeUnit.SECONDS));
        lock.release();
        log("phase 1 done");
        new BufferedReader(new InputStreamReader(System.in)).readLine();

        ok = 0;
        for (int i = 0; i < 50; i++) {
            AtomicValue<Long> v = counter.increment();
            if (v.succeeded()) ok++;
        }
        log("increments after:", ok);
        // A CAS whose reply was lost is retried and may count twice: at least 100.
        log("counter at least 100:", counter.get().postValue() >= 100);
        log("lock after:", lock.acquire(10, TimeUnit.SECONDS));
        lock.release();
        String p = c.create().creatingParentContainersIfNeeded().withProtection()
                .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath("/cf/protected/job-");
        log("protected create:", p.contains("_c_") && p.startsWith("/cf/protected/"));
        c.create().forPath("/cf/watched", "1".getBytes());
        log("watch fired after the fail-over:", created.await(30, TimeUnit.SECONDS));
        log("same session:", c.getZookeeperClient().getZooKeeper().getSessionId() == session);
        log("session lost:", states.contains(ConnectionState.LOST));
        log("ephemeral kept:", c.checkExists().forPath("/cf/eph") != null);
        c.close();
        log("curator failover: ok");
    }
}
