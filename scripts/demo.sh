#!/usr/bin/env bash
# The project's quick start (the README's first command), on a fresh machine and without
# Java: a 3-member zk-server ensemble in-process, gRPC greeters that register themselves,
# a canary rule stored in ZooKeeper, and calls routed through tower while an instance
# stops, the leader dies and the rule changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo run --quiet --example quickstart
