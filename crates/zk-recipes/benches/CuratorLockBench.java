// Apache Curator's InterProcessMutex measured as crates/zk-recipes/benches/locks.rs
// measures zk-recipes' (same server, same run):
//
//   uncontended HOSTS PATH N       one client: N lock+unlock pairs after a warm-up
//   contended HOSTS PATH K MILLIS  K clients, one thread each, taking turns for MILLIS
//
// Prints one line: "ops_per_s=… p50_us=… p99_us=…", where the latency is of one
// lock+unlock (uncontended) or of a hand-over: from a holder starting its release to the
// next holder's acquire returning (contended).

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLockBench {
    static CuratorFramework client(String hosts) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.newClient(
                hosts, 30000, 10000, new ExponentialBackoffRetry(50, 10));
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected");
        }
        return c;
    }

    static long quantile(List<Long> sorted, double q) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int i = (int) Math.min(sorted.size() - 1, Math.floor(q * sorted.size()));
        return sorted.get(i);
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[1];
        String path = args[2];
        List<Long> lat = Collections.synchronizedList(new ArrayList<>());
        double opsPerSec;
        if (args[0].equals("uncontended")) {
            int n = Integer.parseInt(args[3]);
            CuratorFramework c = client(hosts);
            InterProcessMutex m = new InterProcessMutex(c, path);
            for (int i = 0; i < n / 2; i++) { // warm-up
                m.acquire();
                m.release();
            }
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long s = System.nanoTime();
                m.acquire();
                m.release();
                lat.add((System.nanoTime() - s) / 1000);
            }
            opsPerSec = n / ((System.nanoTime() - t0) / 1e9);
            c.close();
        } else {
            int k = Integer.parseInt(args[3]);
            long millis = Long.parseLong(args[4]);
            List<CuratorFramework> clients = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                clients.add(client(hosts));
            }
            AtomicLong released = new AtomicLong(0);
            AtomicLong count = new AtomicLong(0);
            AtomicBoolean measuring = new AtomicBoolean(false);
            AtomicBoolean stop = new AtomicBoolean(false);
            List<Thread> threads = new ArrayList<>();
            for (CuratorFramework c : clients) {
                Thread t = new Thread(() -> {
                    InterProcessMutex m = new InterProcessMutex(c, path);
                    try {
                        while (!stop.get()) {
                            m.acquire();
                            long now = System.nanoTime();
                            long before = released.get();
                            if (measuring.get() && before != 0) {
                                lat.add((now - before) / 1000);
                                count.incrementAndGet();
                            }
                            released.set(System.nanoTime());
                            m.release();
                        }
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                threads.add(t);
                t.start();
            }
            Thread.sleep(millis / 2); // warm-up
            measuring.set(true);
            long t0 = System.nanoTime();
            Thread.sleep(millis);
            measuring.set(false);
            opsPerSec = count.get() / ((System.nanoTime() - t0) / 1e9);
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
            for (CuratorFramework c : clients) {
                c.close();
            }
        }
        List<Long> sorted = new ArrayList<>(lat);
        Collections.sort(sorted);
        System.out.printf("ops_per_s=%.0f p50_us=%d p99_us=%d%n",
                opsPerSec, quantile(sorted, 0.5), quantile(sorted, 0.99));
    }
}
