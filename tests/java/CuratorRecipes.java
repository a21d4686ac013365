// Apache Curator's recipes, driven against one server; prints only what does not depend
// on timing, ports or zxids, so the output on zk-server can be compared with Apache's.
//
// Usage: java -cp ... CuratorRecipes HOST:PORT

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;

public class CuratorRecipes {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("failed: " + what);
        }
    }

    public static void main(String[] args) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.newClient(
                args[0], 10000, 10000, new ExponentialBackoffRetry(100, 3));
        c.start();
        check(c.blockUntilConnected(20, TimeUnit.SECONDS), "connected");

        InterProcessMutex mutex = new InterProcessMutex(c, "/locks/m");
        check(mutex.acquire(10, TimeUnit.SECONDS), "mutex acquired");
        System.out.println("mutex held, reentrant " + mutex.acquire(1, TimeUnit.SECONDS));
        mutex.release();
        mutex.release();
        System.out.println("mutex participants after release " + mutex.getParticipantNodes().size());

        InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(c, "/sem", 2);
        Lease lease = sem.acquire(10, TimeUnit.SECONDS);
        check(lease != null, "lease");
        System.out.println("semaphore leases " + sem.getParticipantNodes().size());
        sem.returnLease(lease);

        LeaderLatch latch = new LeaderLatch(c, "/leader", "me");
        latch.start();
        check(latch.await(10, TimeUnit.SECONDS), "leadership");
        System.out.println("leader " + latch.hasLeadership() + " id " + latch.getLeader().getId());
        latch.close();

        DistributedAtomicLong counter = new DistributedAtomicLong(c, "/counter", new RetryNTimes(10, 10));
        AtomicValue<Long> v = counter.add(5L);
        check(v.succeeded(), "counter add");
        v = counter.decrement();
        System.out.println("atomic long " + v.postValue());

        SharedCount shared = new SharedCount(c, "/shared", 0);
        shared.start();
        check(shared.trySetCount(shared.getVersionedValue(), 7), "shared count set");
        System.out.println("shared count " + shared.getCount());
        shared.close();

        PersistentNode node = new PersistentNode(c, CreateMode.EPHEMERAL, false, "/ephemeral/me",
                "hello".getBytes(StandardCharsets.UTF_8));
        node.start();
        check(node.waitForInitialCreate(10, TimeUnit.SECONDS), "persistent node");
        System.out.println("persistent node " + new String(
                c.getData().forPath("/ephemeral/me"), StandardCharsets.UTF_8));
        node.close();

        // CuratorCache: persistent recursive watch on servers that have it.
        c.create().creatingParentsIfNeeded().forPath("/cache/a", "1".getBytes(StandardCharsets.UTF_8));
        CountDownLatch changed = new CountDownLatch(1);
        CountDownLatch created = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(c, "/cache");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> { if (n.getPath().equals("/cache/b")) created.countDown(); })
                .forChanges((o, n) -> { if (n.getPath().equals("/cache/a")) changed.countDown(); })
                .build());
        CountDownLatch init = new CountDownLatch(1);
        cache.listenable().addListener(CuratorCacheListener.builder().forInitialized(init::countDown).build());
        cache.start();
        check(init.await(10, TimeUnit.SECONDS), "cache initialized");
        c.setData().forPath("/cache/a", "2".getBytes(StandardCharsets.UTF_8));
        c.create().forPath("/cache/b");
        check(changed.await(10, TimeUnit.SECONDS), "cache saw the change");
        check(created.await(10, TimeUnit.SECONDS), "cache saw the create");
        List<String> paths = new ArrayList<>();
        cache.stream().forEach(d -> paths.add(d.getPath()));
        Collections.sort(paths);
        System.out.println("curator cache " + paths);
        cache.close();

        // Protected (GUID-prefixed) ephemeral sequential create, as Curator's locks use.
        String p = c.create().creatingParentsIfNeeded().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL)
                .forPath("/protected/n");
        System.out.println("protected create " + p.startsWith("/protected/_c_") + " " + p.matches(".*n\\d{10}$"));

        // A transaction.
        List<org.apache.curator.framework.api.transaction.CuratorTransactionResult> results =
                c.transaction().forOperations(
                        c.transactionOp().create().forPath("/tx", "x".getBytes(StandardCharsets.UTF_8)),
                        c.transactionOp().setData().forPath("/tx", "y".getBytes(StandardCharsets.UTF_8)),
                        c.transactionOp().check().withVersion(1).forPath("/tx"));
        System.out.println("transaction " + results.size() + " "
                + new String(c.getData().forPath("/tx"), StandardCharsets.UTF_8));

        c.close();
        System.out.println("curator recipes: ok");
    }
}
