"""kazoo through a leader kill: a session with an ephemeral node and a watch, writes
before and after the leader dies. The client is on the leader when it is killed (the
leader's address comes first and hosts are not shuffled), so it must move to another
member and keep its session, ephemeral and watch. Prints a transcript that must be the
same on Apache ZooKeeper and on zk-server.

Usage: python3 kazoo_failover.py HOST:PORT,HOST:PORT,HOST:PORT   (the leader first)
The test kills the leader after "phase 1 done" and then writes a line to stdin.
"""
import sys
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError
from kazoo.protocol.states import KazooState

HOSTS = sys.argv[1]
RETRY = dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5)


def log(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


states = []
zk = KazooClient(hosts=HOSTS, timeout=6.0, randomize_hosts=False,
                 connection_retry=RETRY, command_retry=RETRY)
zk.add_listener(lambda s: states.append(s))
zk.start(timeout=30)
session = zk.client_id[0]
log("connected to the first host:", zk._connection._socket.getpeername()[1] == int(HOSTS.split(",")[0].rsplit(":", 1)[1]))

zk.ensure_path("/fo")
zk.create("/fo/eph", b"mine", ephemeral=True)
created = threading.Event()


# A plain one-shot watch is consumed when kazoo reports the connection change (the same
# on both servers); DataWatch, which kazoo users rely on, keeps watching across moves.
@zk.DataWatch("/fo/watched")
def on_watched(data, stat, event):
    if data is not None:
        log("watch:", event.type if event else None, data)
        created.set()


def create(path):
    # A create whose reply was lost in the fail-over may have happened: it is ours then.
    try:
        zk.retry(zk.create, path, path.encode())
    except NodeExistsError:
        data, _ = zk.get(path)
        assert data == path.encode(), data


acked = []
for i in range(100):
    create("/fo/n-%03d" % i)
    acked.append("/fo/n-%03d" % i)
log("phase 1 done")
sys.stdin.readline()  # the leader is dead now

for i in range(100, 200):
    create("/fo/n-%03d" % i)
    acked.append("/fo/n-%03d" % i)
log("moved off the dead leader:", zk._connection._socket.getpeername()[1] != int(HOSTS.split(",")[0].rsplit(":", 1)[1]))

other = KazooClient(hosts=HOSTS, timeout=6.0, connection_retry=RETRY, command_retry=RETRY)
other.start(timeout=30)
other.retry(other.create, "/fo/watched", b"1")
log("watch fired after the fail-over:", created.wait(30))
log("same session:", zk.client_id[0] == session)
log("session lost:", KazooState.LOST in states, "suspended then reconnected:",
    KazooState.SUSPENDED in states and states[-1] == KazooState.CONNECTED)
log("ephemeral kept:", other.exists("/fo/eph") is not None)
zk.sync("/fo")
log("acknowledged writes kept:", all(zk.exists(p) is not None for p in acked), len(acked))
children = sorted(other.get_children("/fo"))
log("children:", len(children), children[:2], children[-2:])
zk.stop()
zk.close()
other.sync("/fo")
log("ephemeral gone after close:", other.exists("/fo/eph") is None)
other.stop()
other.close()
log("kazoo failover: ok")
