// Apache Curator's recipes contending with zk-recipes on the same paths.
//
//   count HOSTS RECIPE PATH COUNTER ROUNDS   RECIPE: mutex | write | semaphore
//       Takes the lock ROUNDS times; each time reads COUNTER (a decimal number), pauses,
//       and writes it back plus one: a lost update shows two holders at once.
//   read HOSTS PATH
//       Takes the read lock of the read-write lock at PATH, prints "reading", and releases
//       it when a line arrives on stdin, printing "released".
//   latch HOSTS PATH ID
//       Joins a LeaderLatch as ID; prints "leader" when it leads, and then closes when a
//       line arrives on stdin, printing "closed".
// Prints "ready" once connected and "done" at the end.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessLock;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorContender {
    public static void main(String[] args) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.newClient(
                args[1], 10000, 10000, new ExponentialBackoffRetry(50, 10));
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected");
        }
        System.out.println("ready");
        System.out.flush();
        if (args[0].equals("count")) {
            count(c, args[2], args[3], args[4], Integer.parseInt(args[5]));
        } else if (args[0].equals("read")) {
            InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, args[2]);
            rw.readLock().acquire();
            System.out.println("reading");
            System.out.flush();
            new BufferedReader(new InputStreamReader(System.in)).readLine();
            rw.readLock().release();
            System.out.println("released");
            System.out.flush();
        } else if (args[0].equals("latch")) {
            latch(c, args[2], args[3]);
        } else {
            throw new IllegalArgumentException(args[0]);
        }
        c.close();
        System.out.println("done");
    }

    static void count(CuratorFramework c, String recipe, String path, String counter, int rounds)
            throws Exception {
        InterProcessLock lock = null;
        InterProcessSemaphoreV2 semaphore = null;
        if (recipe.equals("mutex")) {
            lock = new InterProcessMutex(c, path);
        } else if (recipe.equals("write")) {
            lock = new InterProcessReadWriteLock(c, path).writeLock();
        } else if (recipe.equals("semaphore")) {
            semaphore = new InterProcessSemaphoreV2(c, path, 1);
        } else {
            throw new IllegalArgumentException(recipe);
        }
        for (int i = 0; i < rounds; i++) {
            Lease lease = null;
            if (lock != null) {
                lock.acquire();
            } else {
                lease = semaphore.acquire();
            }
            try {
                byte[] data = c.getData().forPath(counter);
                long n = Long.parseLong(new String(data, StandardCharsets.UTF_8));
                Thread.sleep(1);
                c.setData().forPath(counter, Long.toString(n + 1).getBytes(StandardCharsets.UTF_8));
            } finally {
                if (lock != null) {
                    lock.release();
                } else {
                    semaphore.returnLease(lease);
                }
            }
        }
    }

    static void latch(CuratorFramework c, String path, String id) throws Exception {
        LeaderLatch latch = new LeaderLatch(c, path, id);
        latch.start();
        System.out.println("started");
        System.out.flush();
        latch.await();
        StringBuilder order = new StringBuilder();
        for (Participant p : latch.getParticipants()) {
            order.append(p.getId()).append(p.isLeader() ? "*" : "").append(' ');
        }
        System.out.println("leader " + order.toString().trim());
        System.out.flush();
        new BufferedReader(new InputStreamReader(System.in)).readLine();
        latch.close();
        System.out.println("closed");
    }
}
