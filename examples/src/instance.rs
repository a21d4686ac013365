//! One instance of the greeter: serves on a free loopback port, registers itself in
//! discovery on startup (Curator's layout, `/services/{name}/{id}`) and, when stopped,
//! unregisters *before* it stops serving, so that callers' caches drop it while it still
//! answers the calls already on their way.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zk_discovery::{Registration, ServiceDiscovery, ServiceInstance};

use crate::greeter::GreeterServer;
use crate::BoxError;

/// A running, registered greeter instance.
pub struct Instance {
    id: String,
    version: String,
    addr: SocketAddr,
    registration: Registration,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Instance {
    /// Starts instance `id` of `service` at `version` and registers it through
    /// `discovery`, with `{"version": version}` as its payload.
    pub async fn start(
        discovery: &ServiceDiscovery,
        service: &str,
        id: &str,
        version: &str,
    ) -> Result<Instance, BoxError> {
        let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into())?;
        let addr = incoming.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let greeter = GreeterServer::new(id, version);
        let serving = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(greeter)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                }),
        );
        let instance = ServiceInstance::new(service, addr.ip().to_string(), addr.port())
            .with_id(id)
            .with_payload(serde_json::json!({ "version": version }));
        let registration = match discovery.register(instance).await {
            Ok(r) => r,
            Err(e) => {
                let _ = stop.send(());
                return Err(e.into());
            }
        };
        Ok(Instance {
            id: id.to_owned(),
            version: version.to_owned(),
            addr,
            registration,
            stop,
            serving,
        })
    }

    /// The instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The instance's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Unregisters: its node is deleted at once, and callers' caches drop it within
    /// their propagation time. It keeps serving until [`Instance::shutdown`].
    pub async fn unregister(&self) -> Result<(), BoxError> {
        Ok(self.registration.unregister().await?)
    }

    /// Stops serving once the calls in progress have been answered (unregistering first
    /// if that was not done).
    pub async fn shutdown(self) -> Result<(), BoxError> {
        let unregistered = self.registration.unregister().await;
        let _ = self.stop.send(());
        self.serving.await??;
        unregistered?;
        Ok(())
    }
}
