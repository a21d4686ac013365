#!/usr/bin/env bash
# Runs the project's demo on a fresh machine: installs Apache ZooKeeper if missing,
# starts a throwaway server on a free loopback port, runs the client quick start against
# it, and stops the server again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
zk="$root/scripts/zk-apache.sh"
"$zk" install
dir="$(mktemp -d)"
trap '"$zk" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
connect="$("$zk" start 1 "$dir" | tail -n 1)"
echo "Apache ZooKeeper running at $connect"
cargo run --quiet -p zk-client --example quickstart -- "$connect"
