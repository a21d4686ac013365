//! Test infrastructure for zkmesh; a dev-dependency only, never published.
//!
//! This crate owns the machinery that integration tests of the other crates share:
//!
//! - [`ApacheZk`] ([`apache`]): a throwaway Apache ZooKeeper cluster (a
//!   standalone server or a 3/5-member ensemble) on free loopback ports,
//!   driven through `scripts/zk-apache.sh`. Members can be killed and
//!   restarted, queried with four-letter words, and every JVM is killed when
//!   the handle is dropped, even if the test panics.
//! - [`FaultProxy`] ([`proxy`]): a small TCP proxy that sits between a client
//!   and a server and injects faults: dropped connections, a black-hole
//!   partition (pause/resume), refused connections and per-chunk delay.
//! - [`tls`]: a throwaway certificate authority issuing PEM certificates for TLS tests,
//!   also as Java key and trust stores made with `openssl` and `keytool` ([`JavaStore`]),
//!   and [`ServerTls`] to serve Apache's `secureClientPort` with them.
//! - [`TestKdc`] ([`kerberos`]): a throwaway MIT Kerberos realm and KDC on loopback,
//!   driven through `scripts/krb5-kdc.sh`, for the Kerberos (SASL GSSAPI) tests.
//! - [`Browser`] ([`browser`]): a headless Chromium driven over WebDriver through
//!   chromedriver, for browser tests of the web console: load a page, click, wait for a
//!   text, take screenshots. Chromium and chromedriver are killed when the handle is dropped.
//! - [`java`]: Apache Curator's jars from Debian's packages, and compiling a test's Java
//!   program against them.
//! - [`cpu`]: the process's CPU time, for tests and benchmarks that compare costs.
//! - [`linearizable`]: a linearizability check for a single-register history,
//!   for fail-over tests against either server.
//!
//! Errors from all of them are reported as [`TestkitError`].

#![warn(missing_docs)]

pub mod apache;
pub mod browser;
pub mod cpu;
pub mod java;
pub mod kerberos;
pub mod linearizable;
pub mod proxy;
pub mod tls;

pub use apache::{
    bundled_server_binary, ApacheZk, ApacheZkOptions, ClientAuth, Mode, ServerTls, Servers,
};
pub use browser::Browser;
pub use cpu::process_cpu_time;
pub use kerberos::TestKdc;
pub use proxy::FaultProxy;
pub use tls::{Issued, JavaStore, TestCa};

use std::time::Duration;

/// Everything that can go wrong while setting up or driving test fixtures.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// An I/O operation failed; `context` says which one.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the kit was doing when the error happened.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `zk-apache.sh` exited unsuccessfully.
    #[error("`zk-apache.sh {command}` failed ({status}):\n{stderr}")]
    Script {
        /// The subcommand and its arguments.
        command: String,
        /// The exit status as printed by the OS.
        status: String,
        /// The script's standard error (includes log tails on start failure).
        stderr: String,
    },
    /// Installing Apache ZooKeeper failed (reported to every caller).
    #[error("installing Apache ZooKeeper failed: {0}")]
    Install(String),
    /// A member index was outside `0..members`.
    #[error("member index {index} out of range: the cluster has {members} member(s)")]
    NoSuchMember {
        /// The index that was asked for (0-based).
        index: usize,
        /// How many members the cluster has.
        members: usize,
    },
    /// Something did not happen within its deadline.
    #[error("timed out after {after:?} {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the kit waited.
        after: Duration,
    },
    /// A server or the script printed something the kit could not parse.
    #[error("unexpected output: {0}")]
    Parse(String),
    /// The headless browser is missing, did not start, or a WebDriver command failed; the
    /// message says which, with the end of chromedriver's log where it helps.
    #[error("browser: {0}")]
    Browser(String),
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TestkitError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;
