//! Turning the global options (`--server`, `--chroot`, `--auth`, `--timeout`) into a
//! ZooKeeper session or a discovery service.

use std::time::Duration;

use zk_client::{Client, ClientBuilder};
use zk_discovery::ServiceDiscovery;

use crate::cli::Cli;
use crate::error::{CtlError, Result};

/// The connection settings of one invocation.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The connect string, as given.
    pub server: String,
    chroot: Option<String>,
    auth: Option<String>,
    timeout: Duration,
}

impl Connection {
    /// The settings from the parsed command line.
    pub fn from_cli(cli: &Cli) -> Self {
        Self {
            server: cli.server.clone(),
            chroot: cli.chroot.clone(),
            auth: cli.auth.clone(),
            timeout: Duration::from_secs(cli.timeout),
        }
    }

    /// How long to wait for a session or a reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn builder(&self) -> Result<ClientBuilder> {
        // A dead server should fail the command within --timeout, not after the 30 s
        // default session timeout.
        let mut b = Client::builder()
            .establish_timeout(self.timeout)
            .request_timeout(self.timeout);
        if let Some(chroot) = &self.chroot {
            b = b.chroot(chroot.clone());
        }
        if let Some(auth) = &self.auth {
            if !auth.contains(':') {
                return Err(CtlError::Usage(
                    "--auth must be USER:PASSWORD (digest credentials)".into(),
                ));
            }
            b = b.digest_auth(auth);
        }
        Ok(b)
    }

    /// A session with the servers.
    pub async fn client(&self) -> Result<Client> {
        self.builder()?
            .connect(&self.server)
            .await
            .map_err(CtlError::zk(format!("connect to {}", self.server)))
    }

    /// A discovery service over a session with the servers (Curator's `/services`).
    pub async fn discovery(&self) -> Result<ServiceDiscovery> {
        ServiceDiscovery::builder()
            .client(self.builder()?)
            .connect(&self.server)
            .await
            .map_err(CtlError::discovery(format!("connect to {}", self.server)))
    }
}
