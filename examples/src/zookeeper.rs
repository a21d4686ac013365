//! Where the examples find ZooKeeper: the hosts in `ZK_HOSTS` (any ZooKeeper 3.5+, Apache's
//! or ours), or, when it is unset, a zk-server embedded in the example's own process.

use zk_server::ServerHandle;

use crate::BoxError;

/// The ZooKeeper an example talks to.
pub struct ZooKeeper {
    hosts: String,
    embedded: Option<ServerHandle>,
}

impl ZooKeeper {
    /// `ZK_HOSTS` if set (`host:port,...[/chroot]`), else a new embedded server on a free
    /// loopback port.
    pub async fn from_env() -> Result<Self, BoxError> {
        match std::env::var("ZK_HOSTS") {
            Ok(hosts) if !hosts.trim().is_empty() => Ok(ZooKeeper {
                hosts: hosts.trim().to_owned(),
                embedded: None,
            }),
            _ => {
                let server = ServerHandle::builder().port(0).start().await?;
                Ok(ZooKeeper {
                    hosts: server.connect_string(),
                    embedded: Some(server),
                })
            }
        }
    }

    /// The connect string.
    pub fn hosts(&self) -> &str {
        &self.hosts
    }

    /// Whether the server is the embedded one (it goes when the example ends).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Stops the embedded server, if any.
    pub async fn shutdown(self) {
        if let Some(server) = self.embedded {
            server.shutdown().await;
        }
    }
}
