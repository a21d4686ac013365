#!/usr/bin/env bash
# The project's demo on a fresh machine: starts the bundled ZooKeeper-compatible server
# (zk-server, no Java needed) on a free loopback port, runs the client quick start against
# it, and stops the server again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --quiet -p zk-server --bin zk-server -p zk-client --example quickstart
log="$(mktemp)"
target/debug/zk-server --address 127.0.0.1 --port 0 --4lw ruok,srvr 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT
addr=""
for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*zk-server ready.*addr=\([0-9.:]*\).*/\1/p' "$log" | head -n 1)"
    [[ -n $addr ]] && break
    sleep 0.1
done
[[ -n $addr ]] || { cat "$log"; echo "zk-server did not start" >&2; exit 1; }
echo "zk-server (bundled) running at $addr"
target/debug/examples/quickstart "$addr"
