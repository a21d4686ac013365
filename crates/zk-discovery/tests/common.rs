//! Both servers behind one type for the discovery tests.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use zk_client::Client;
use zk_server::ServerHandle;
use zk_testkit::{ApacheZk, FaultProxy};

pub const WAIT: Duration = Duration::from_secs(20);

pub enum Server {
    // Boxed: an Apache handle is several times the size of zk-server's.
    Apache(Box<ApacheZk>),
    Bundled(ServerHandle),
}

impl Server {
    pub async fn apache() -> Server {
        init_tracing();
        Server::Apache(Box::new(
            ApacheZk::options(1)
                .tick_time(Duration::from_millis(500))
                .start()
                .await
                .expect("Apache ZooKeeper"),
        ))
    }

    pub async fn bundled() -> Server {
        init_tracing();
        Server::Bundled(
            ServerHandle::builder()
                .port(0)
                .tick_time(Duration::from_millis(500))
                .start()
                .await
                .expect("zk-server"),
        )
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Apache(z) => z.client_addr(0),
            Server::Bundled(s) => s.addr(),
        }
    }

    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// Ends `session` on the server, as an expiry would: on zk-server through the harness;
    /// on Apache by attaching to the session from another connection and closing it (the
    /// session's own client must be kept away meanwhile: see `proxy`).
    pub async fn expire(&self, session: i64, password: Vec<u8>, proxy: Option<&FaultProxy>) {
        match self {
            Server::Bundled(s) => assert!(s.expire_session(session).await.unwrap()),
            Server::Apache(_) => {
                if let Some(p) = proxy {
                    p.refuse(true);
                    p.drop_connections();
                }
                let thief = Client::builder()
                    .session(session, password)
                    .connect(&self.connect_string())
                    .await
                    .expect("attach to the session");
                thief.close().await.unwrap();
                if let Some(p) = proxy {
                    p.refuse(false);
                }
            }
        }
    }
}

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Whose members make up a 3-member ensemble.
pub use zk_testkit::Servers as Members;

/// A 3-member ensemble of either kind, with a 500 ms tick.
pub async fn ensemble(members: Members) -> ApacheZk {
    init_tracing();
    ApacheZk::options(3)
        .tick_time(Duration::from_millis(500))
        .servers(members)
        .expect("zk-server binary")
        .start()
        .await
        .expect("start a 3-member ensemble")
}
