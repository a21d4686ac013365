"""kazoo (the Python ZooKeeper client) over mutual TLS: connect with a client
certificate, CRUD, an ACL naming the certificate's subject (x509), and the same ACL
refusing a session that is not that subject. Prints a transcript, asserting as it goes.

Usage: python3 kazoo_tls.py HOST:PORT CA_PEM CERT_PEM KEY_PEM SUBJECT
"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import InvalidACLError, NoAuthError
from kazoo.security import ACL, Id, Permissions

HOSTS, CA, CERT, KEY, SUBJECT = sys.argv[1:6]
WAIT = 15


def log(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


zk = KazooClient(hosts=HOSTS, use_ssl=True, ca=CA, certfile=CERT, keyfile=KEY,
                 verify_certs=True, timeout=10)
zk.start(timeout=WAIT)
log("connected", zk.connected)

zk.create("/kazoo-tls", b"one")
data, stat = zk.get("/kazoo-tls")
log("get", data, stat.version)
zk.set("/kazoo-tls", b"two")
log("set", zk.get("/kazoo-tls")[0])

mine = [ACL(Permissions.ALL, Id("x509", SUBJECT))]
zk.create("/kazoo-tls/mine", b"private", acl=mine)
log("acl", [(a.perms, a.id.scheme, a.id.id) for a in zk.get_acls("/kazoo-tls/mine")[0]])
mine_data = zk.get("/kazoo-tls/mine")[0]
assert mine_data == b"private", mine_data
log("read mine", mine_data)

try:
    zk.create("/kazoo-tls/bad", b"", acl=[ACL(Permissions.ALL, Id("x509", "no name"))])
    raise AssertionError("a malformed x509 ACL was accepted")
except InvalidACLError:
    log("malformed x509 ACL refused")

someone_else = [ACL(Permissions.ALL, Id("x509", "CN=someone else"))]
zk.create("/kazoo-tls/theirs", b"", acl=someone_else)
try:
    zk.get("/kazoo-tls/theirs")
    raise AssertionError("read a node whose ACL names another subject")
except NoAuthError:
    log("read theirs: NoAuth")

zk.stop()
zk.close()
log("kazoo tls: ok")
