"""kazoo with SASL DIGEST-MD5 (pure-sasl): alice authenticates, owns a sasl ACL, and bob,
an unauthenticated client and a wrong password are refused. Prints one line per outcome;
the test runs it against Apache ZooKeeper and zk-server and compares the lines.

usage: kazoo_sasl.py HOSTS
"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

HOSTS = sys.argv[1]


def client(user=None, password=None):
    options = None
    if user is not None:
        options = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    zk = KazooClient(hosts=HOSTS, sasl_options=options, timeout=10,
                     connection_retry={"max_tries": 0})
    zk.start(timeout=15)
    return zk


alice = client("alice", "secret")
alice.create("/kz", b"hers", acl=[make_acl("sasl", "alice", all=True)])
print("alice reads:", alice.get("/kz")[0])
print("acl:", [(a.id.scheme, a.id.id, a.perms) for a in alice.get_acls("/kz")[0]])

bob = client("bob", "pw")
try:
    bob.get("/kz")
    print("bob reads")
except NoAuthError:
    print("bob: NoAuthError")
bob.stop()

anyone = client()
try:
    anyone.get("/kz")
    print("anyone reads")
except NoAuthError:
    print("anyone: NoAuthError")
anyone.stop()

# kazoo reports CONNECTED before its SASL exchange ends, and start() then checks the
# state again: depending on which thread runs first it returns or raises a time-out,
# whichever server refused. What is compared is that nothing is served.
try:
    wrong = client("alice", "wrong")
    try:
        wrong.get("/kz")
        print("wrong password: served")
    except Exception:
        print("wrong password: refused")
    wrong.stop()
except Exception:
    print("wrong password: refused")

alice.delete("/kz")
alice.stop()
print("kazoo sasl: ok")
