#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (Apache
# ZooKeeper, Curator, MIT Kerberos and Chromium from Debian, the kazoo Python client,
# cargo-nextest if missing), checks formatting and lints, then runs every test and doctest.
# Tests start their own servers (and Kerberos KDCs, browsers); nothing needs to be running.
set -euo pipefail
# Incremental caches only help repeated local builds; on a fresh machine they double the disk
# the build needs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/zk-apache.sh install
# openssl (with the JDK's keytool) makes the Java key stores of the TLS interop tests.
if ! command -v openssl >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
fi
# MIT Kerberos (KDC tools, libgssapi_krb5 headers) for the Kerberos tests; see the last run.
scripts/krb5-kdc.sh install
# Apache Curator's own service discovery and recipes, for the interoperability tests.
if [[ ! -f /usr/share/java/curator-x-discovery.jar || ! -f /usr/share/java/curator-recipes.jar ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcurator-discovery-java libcurator-recipes-java
fi
# The Python kazoo client tests the bundled server as a real third-party client would.
if ! python3 -c "import kazoo, puresasl" >/dev/null 2>&1; then
    # pure-sasl: kazoo's SASL (DIGEST-MD5) support.
    python3 -m pip install --quiet --disable-pip-version-check kazoo pure-sasl
fi
# Headless Chromium and chromedriver, for the console's browser tests (zk-testkit's Browser
# runs these two paths).
if [[ ! -x /usr/bin/chromedriver || ! -x /usr/bin/chromium ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Kerberos (SASL GSSAPI) is zk-client's optional `kerberos` feature (building it needs the MIT
# headers and libclang): lint it and run its unit, doc and interop tests (each test starts a KDC).
cargo clippy -p zk-client --all-targets --features kerberos -- -D warnings
cargo test -p zk-client --features kerberos --doc kerberos
cargo nextest run -p zk-client --features kerberos --lib --test kerberos --no-fail-fast
# Doctests first, so the last line printed is nextest's summary of the whole suite.
cargo test --workspace --doc
cargo nextest run --workspace --no-fail-fast
