"""kazoo's recipes (locks, semaphores, counters, queues, election, party, partitioner,
barriers, data/children watchers, TreeCache) and transactions, run the same against
Apache ZooKeeper and zk-server. Prints only what does not depend on timing or zxids.

Usage: kazoo_recipes.py HOST:PORT
"""

import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.recipe.cache import TreeCache
from kazoo.recipe.watchers import ChildrenWatch, DataWatch


def wait_until(what, cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


zk = KazooClient(hosts=sys.argv[1])
zk.start(timeout=15)

lock = zk.Lock("/lock", "me")
with lock:
    print("lock held; contenders", lock.contenders())
print("lock released; contenders", lock.contenders())

sem = zk.Semaphore("/sem", identifier="me", max_leases=2)
with sem:
    print("semaphore lease holders", sem.lease_holders())

counter = zk.Counter("/counter")
counter += 5
counter -= 2
print("counter", counter.value)
fcounter = zk.Counter("/fcounter", default=0.0)
fcounter += 1.5
print("float counter", fcounter.value)

queue = zk.Queue("/queue")
queue.put(b"low")
queue.put(b"high", priority=10)
print("queue", queue.get(), queue.get(), len(queue))
lqueue = zk.LockingQueue("/lqueue")
lqueue.put(b"x")
print("locking queue", lqueue.get(5), lqueue.consume())

elected = threading.Event()
election = zk.Election("/election", "me")
threading.Thread(target=lambda: election.run(elected.set), daemon=True).start()
wait_until("election", elected.is_set)
print("elected")

party = zk.Party("/party", "me")
party.join()
print("party", list(party))
party.leave()
print("party after leave", list(party))

partitioner = zk.SetPartitioner("/partition", set=("a", "b", "c"), time_boundary=0.2)
wait_until("partition", lambda: partitioner.acquired or partitioner.wait_for_acquire(0.5) or partitioner.acquired, 20)
print("partition", sorted(partitioner))
partitioner.finish()

barrier = zk.Barrier("/barrier")
barrier.create()
barrier.remove()
print("barrier open", barrier.wait(1))

zk.ensure_path("/w")
seen = []
DataWatch(zk, "/w", lambda data, stat: seen.append(data))
zk.set("/w", b"1")
wait_until("data 1", lambda: b"1" in seen)
zk.set("/w", b"2")
wait_until("data 2", lambda: b"2" in seen)
print("data watch", seen)
children = []
ChildrenWatch(zk, "/w", lambda ch: children.append(sorted(ch)))
zk.create("/w/a")
zk.create("/w/b")
wait_until("children", lambda: children and children[-1] == ["a", "b"])
print("children watch", children[-1])

cache = TreeCache(zk, "/w")
cache.start()
wait_until("tree cache", lambda: sorted(cache.get_children("/w") or []) == ["a", "b"])
zk.set("/w/a", b"payload")
wait_until("tree cache data", lambda: getattr(cache.get_data("/w/a"), "data", None) == b"payload")
print("tree cache", sorted(cache.get_children("/w")), cache.get_data("/w/a").data)
cache.close()

tx = zk.transaction()
tx.create("/t1", b"x")
tx.check("/w", 2)
tx.set_data("/w", b"3")
results = tx.commit()
print("transaction", results[0], results[1], results[2].version)
tx = zk.transaction()
tx.create("/t2")
tx.delete("/missing")
print("failed transaction", [type(r).__name__ for r in tx.commit()], zk.exists("/t2"))

zk.stop()
zk.close()
print("kazoo recipes: ok")
