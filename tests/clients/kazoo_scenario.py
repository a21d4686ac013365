"""A kazoo (Python ZooKeeper client) scenario: CRUD, watches, ephemeral and sequential
nodes, transactions, ACLs and session expiry. Prints a transcript with what legitimately
differs between servers (times, session ids) normalised, and asserts as it goes.

Usage: python3 kazoo_scenario.py HOST:PORT
"""
import sys
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, NoAuthError, NodeExistsError, NoNodeError,
                              NotEmptyError)
from kazoo.protocol.states import KazooState
from kazoo.security import make_digest_acl

HOSTS = sys.argv[1]
WAIT = 10
out = []


def log(*parts):
    line = " ".join(str(p) for p in parts)
    out.append(line)
    print(line, flush=True)


def stat(s, me=None):
    owner = "self" if me and s.ephemeralOwner == me else ("0" if s.ephemeralOwner == 0 else "other")
    return "czxid=%#x mzxid=%#x pzxid=%#x v=%d cv=%d av=%d owner=%s len=%d kids=%d" % (
        s.czxid, s.mzxid, s.pzxid, s.version, s.cversion, s.aversion, owner, s.dataLength,
        s.numChildren)


def client(**kw):
    zk = KazooClient(hosts=HOSTS, timeout=4.0, **kw)
    zk.start(timeout=WAIT)
    return zk


zk = client()
me = zk.client_id[0]

# CRUD and errors
log("create", zk.create("/k", b"v1"))
log("stat", stat(zk.exists("/k")))
data, st = zk.get("/k")
log("get", data, stat(st))
log("set", stat(zk.set("/k", b"v2", version=0)))
for name, fn, exc in [
    ("exists again", lambda: zk.create("/k", b""), NodeExistsError),
    ("bad version", lambda: zk.set("/k", b"", version=9), BadVersionError),
    ("missing parent", lambda: zk.create("/no/such", b""), NoNodeError),
]:
    try:
        fn()
        log(name, "no error")
    except exc as e:
        log(name, type(e).__name__)
zk.ensure_path("/k/deep/path")
log("ensure_path", sorted(zk.get_children("/k")))
try:
    zk.delete("/k")
except NotEmptyError:
    log("delete non-empty", "NotEmptyError")

# Ephemeral and sequential
log("ephemeral", zk.create("/k/e", b"", ephemeral=True))
log("eph owner", stat(zk.exists("/k/e"), me))
seqs = [zk.create("/k/s-", b"", sequence=True) for _ in range(3)]
log("sequential", seqs)
log("eph seq", zk.create("/k/es-", b"", ephemeral=True, sequence=True))

# Watches: DataWatch and ChildrenWatch fire on changes
events = []
cond = threading.Condition()


def record(kind, value):
    with cond:
        events.append((kind, value))
        cond.notify_all()


def wait_for(n):
    with cond:
        ok = cond.wait_for(lambda: len(events) >= n, timeout=WAIT)
    assert ok, "timed out waiting for %d events, got %r" % (n, events)


@zk.DataWatch("/k/w")
def data_watch(data, st, event=None):
    record("data", (data, event.type if event else None))


@zk.ChildrenWatch("/k")
def children_watch(children):
    record("children", sorted(children))


wait_for(2)
zk.create("/k/w", b"a")
wait_for(4)
zk.set("/k/w", b"b")
wait_for(5)
zk.delete("/k/w")
wait_for(7)
for kind, value in events:
    log("watch", kind, value)

# One-shot watch via get(watch=)
fired = threading.Event()
seen = []
zk.get("/k", watch=lambda ev: (seen.append((ev.type, ev.path)), fired.set()))
zk.set("/k", b"v3")
assert fired.wait(WAIT), "get watch did not fire"
log("one-shot", seen)

# Transactions
t = zk.transaction()
t.create("/k/t1", b"x")
t.set_data("/k/t1", b"y")
t.check("/k", 2)


def result(r):
    if isinstance(r, Exception):
        return type(r).__name__
    if hasattr(r, "czxid"):
        return stat(r)
    return r


log("transaction", [result(r) for r in t.commit()])
t = zk.transaction()
t.create("/k/t2", b"")
t.delete("/k/missing")
log("failed transaction", [result(r) for r in t.commit()])
log("t2 rolled back", zk.exists("/k/t2") is None)

# ACLs
secure = client(auth_data=[("digest", "bob:pw")])
acl = make_digest_acl("bob", "pw", all=True)
secure.create("/secret", b"s", acl=[acl])
try:
    zk.get("/secret")
    log("anon read", "allowed")
except NoAuthError:
    log("anon read", "NoAuthError")
log("bob read", secure.get("/secret")[0])
try:
    zk.get_acls("/secret")
    log("anon acls", "allowed")
except NoAuthError:
    log("anon acls", "NoAuthError")
acls, _ = secure.get_acls("/secret")
log("bob acls", [(a.perms, a.id.scheme, a.id.id) for a in acls])
zk.add_auth("digest", "bob:pw")
log("after add_auth", zk.get("/secret")[0])
secure.stop()

# Session expiry: a second client takes the session over and closes it.
victim = client()
victim.create("/k/victim", b"", ephemeral=True)
states = []
lost = threading.Event()


def listener(state):
    states.append(state)
    if state == KazooState.LOST:
        lost.set()


victim.add_listener(listener)
session_id, password = victim.client_id
thief = KazooClient(hosts=HOSTS, timeout=4.0, client_id=(session_id, password))
thief.start(timeout=WAIT)
thief.stop()
thief.close()
assert lost.wait(WAIT), "victim did not see its session lost: %r" % states
log("victim lost", KazooState.LOST in states)
log("victim ephemeral gone", zk.exists("/k/victim") is None)
victim.stop()
victim.close()

zk.delete("/k", recursive=True)
log("cleaned", zk.exists("/k") is None)
zk.stop()
zk.close()
print("kazoo scenario: ok", flush=True)
