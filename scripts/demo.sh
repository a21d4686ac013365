#!/usr/bin/env bash
# The project's demo, on a fresh machine and without Java: an embedded zk-server, gRPC
# servers that register themselves with zk-discovery, a routing rule stored in ZooKeeper,
# and calls routed by zk-router through tower/tonic — then the rule changes live.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo run --quiet -p zk-router --example grpc_routing
