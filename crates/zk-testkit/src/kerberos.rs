//! A throwaway MIT Kerberos realm for one test, driven through `scripts/krb5-kdc.sh`.
//!
//! Owns the KDC process of [`TestKdc`]: started in a temporary directory with its own
//! `krb5.conf`, database and keytabs, stopped when the handle is dropped (and killed by the
//! script's watchdog should the test process die first). Nothing system-wide is used.
//!
//! MIT's libraries read their configuration from the process environment (`KRB5_CONFIG`,
//! `KRB5CCNAME`); [`TestKdc::apply_env`] sets it for the whole process, which is sound only
//! while each test runs in its own process, as under `cargo nextest`.
//!
//! ```no_run
//! # async fn demo() -> zk_testkit::Result<()> {
//! let kdc = zk_testkit::TestKdc::start().await?;
//! kdc.apply_env();
//! kdc.kinit_client().await?; // alice's ticket in the realm's credential cache
//! println!("{} in {}", kdc.client_principal(), kdc.client_keytab().display());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::{Result, TestkitError};

/// Path of the driver script, relative to this crate's manifest directory.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/krb5-kdc.sh");

/// A running KDC for a realm of its own (see the module docs). Dropping it stops the KDC
/// and deletes the realm's directory.
#[derive(Debug)]
pub struct TestKdc {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl TestKdc {
    /// Creates the realm (`ZKMESH.TEST`: `zookeeper/localhost` with a keytab, `alice` with a
    /// keytab, `bob` with only a password) and starts its KDC on a free loopback port.
    ///
    /// # Errors
    /// [`TestkitError::Script`] when the Kerberos tools are missing (run
    /// `scripts/krb5-kdc.sh install`) or the KDC does not start.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("zk-kdc-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating the realm's directory", e))?;
        let path = dir.path().display().to_string();
        let out = run(&["start", &path]).await?;
        let env: HashMap<String, String> = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        for key in ["KRB5_CONFIG", "REALM", "SERVICE_KEYTAB", "CLIENT_KEYTAB"] {
            if !env.contains_key(key) {
                return Err(TestkitError::Parse(format!(
                    "krb5-kdc.sh start printed no {key}: {out}"
                )));
            }
        }
        Ok(Self { dir, env })
    }

    fn var(&self, key: &str) -> &str {
        self.env.get(key).map_or("", String::as_str)
    }

    /// The realm's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The realm, `ZKMESH.TEST`.
    pub fn realm(&self) -> &str {
        self.var("REALM")
    }

    /// The realm's `krb5.conf` (for `KRB5_CONFIG` and Java's `java.security.krb5.conf`).
    pub fn krb5_conf(&self) -> PathBuf {
        PathBuf::from(self.var("KRB5_CONFIG"))
    }

    /// The realm's credential cache, as `KRB5CCNAME` names it (`FILE:<path>`).
    pub fn ccache(&self) -> &str {
        self.var("KRB5CCNAME")
    }

    /// The service principal, `zookeeper/localhost@ZKMESH.TEST`.
    pub fn service_principal(&self) -> String {
        format!("zookeeper/localhost@{}", self.realm())
    }

    /// The keytab holding the service principal's key.
    pub fn service_keytab(&self) -> PathBuf {
        PathBuf::from(self.var("SERVICE_KEYTAB"))
    }

    /// The client principal with a keytab, `alice@ZKMESH.TEST`.
    pub fn client_principal(&self) -> String {
        format!("alice@{}", self.realm())
    }

    /// The keytab holding alice's key.
    pub fn client_keytab(&self) -> PathBuf {
        PathBuf::from(self.var("CLIENT_KEYTAB"))
    }

    /// A principal that exists but has no keytab (password only), `bob@ZKMESH.TEST`.
    pub fn keyless_principal(&self) -> String {
        format!("bob@{}", self.realm())
    }

    /// Points this process's MIT Kerberos library at the realm: sets `KRB5_CONFIG` and
    /// `KRB5CCNAME`. Process-wide: call it at the start of a test that has its process to
    /// itself (nextest runs each test in its own process).
    pub fn apply_env(&self) {
        std::env::set_var("KRB5_CONFIG", self.var("KRB5_CONFIG"));
        std::env::set_var("KRB5CCNAME", self.var("KRB5CCNAME"));
    }

    /// Gets alice a ticket-granting ticket into the realm's credential cache
    /// ([`TestKdc::ccache`]) with `kinit -k`, as a user would before starting a client.
    ///
    /// # Errors
    /// [`TestkitError::Script`] when kinit fails.
    pub async fn kinit_client(&self) -> Result<()> {
        let keytab = self.client_keytab().display().to_string();
        let principal = self.client_principal();
        let args = ["-k", "-t", keytab.as_str(), principal.as_str()];
        let out = Command::new("kinit")
            .args(args)
            .env("KRB5_CONFIG", self.var("KRB5_CONFIG"))
            .env("KRB5CCNAME", self.var("KRB5CCNAME"))
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| TestkitError::io("running kinit", e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TestkitError::Script {
                command: format!("kinit {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }
}

impl Drop for TestKdc {
    fn drop(&mut self) {
        // Synchronous: Drop may run outside a runtime, or in one that is shutting down.
        let _ = std::process::Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.path().display().to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn script() -> String {
    std::env::var("KRB5_KDC_SCRIPT").unwrap_or_else(|_| SCRIPT.to_string())
}

async fn run(args: &[&str]) -> Result<String> {
    let command = args.join(" ");
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .env("KDC_OWNER_PID", std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| TestkitError::io(format!("running krb5-kdc.sh {command}"), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(TestkitError::Script {
            command: format!("krb5-kdc.sh {command}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
