//! `console`: a web page for services, routing rules, the znode tree and the ensemble,
//! served by `zkctl console` over one discovery session.
//!
//! Owns the HTTP surface: the JSON API under `/api`, the page's static files (built into
//! the binary from `assets/`, so nothing is fetched from anywhere else) and the safety
//! rules of `guard`. What the page shows comes from the same code as the commands
//! (rule checks from [`crate::rule_check`], route decisions from [`crate::explain`],
//! member status from [`crate::ensemble`]), so the page and the CLI cannot disagree.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/info` | connect string, whether writes are allowed |
//! | `GET /api/services`, `GET /api/services/stream` | every service and its instances; the stream (server-sent events) sends them again on every change the discovery caches see |
//! | `GET /api/routes/{service}` | the rule, formatted, checked, and what each destination selects now |
//! | `POST /api/routes/{service}/check` | the same check for a draft |
//! | `PUT /api/routes/{service}` | save a rule, on the version it was loaded at (`--allow-writes`) |
//! | `POST /api/routes/{service}/try` | route one request, as `zkctl route` does |
//! | `GET /api/tree?path=&offset=&limit=` | one node: data, Stat, ACL and a page of children |
//! | `PUT /api/tree` | set a node's data, on its version (`--allow-writes`) |
//! | `GET /api/ensemble` | each member's `srvr` answers and lag |
//!
//! Dependency: `axum` (on tokio and tower, as the rest of the workspace) for routing,
//! extractors and server-sent events.

mod assets;
mod ensemble;
mod guard;
mod reply;
mod rules;
mod services;
mod tree;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use tokio::net::TcpListener;
use zk_discovery::{CacheOptions, ServiceDiscovery};

use crate::cli::ConsoleArgs;
use crate::connect::Connection;
use crate::error::{CtlError, Result};

pub use reply::ApiError;

/// The largest reply the console's session accepts: the child list of a node with a
/// million children is about 13 MiB, far over the 1 MiB default.
const MAX_REPLY: usize = 64 << 20;

/// How a console is served.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Where to listen (`127.0.0.1:8080` by default; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Whether rule saves and node edits are allowed.
    pub allow_writes: bool,
    /// The bearer token every request must carry, if any.
    pub token: Option<String>,
}

impl From<ConsoleArgs> for ConsoleOptions {
    fn from(args: ConsoleArgs) -> Self {
        Self {
            listen: args.listen,
            allow_writes: args.allow_writes,
            token: args.token.filter(|t| !t.is_empty()),
        }
    }
}

/// What every handler shares.
pub(crate) struct Shared {
    pub conn: Connection,
    pub discovery: ServiceDiscovery,
    pub services: services::LiveServices,
    pub allow_writes: bool,
    pub token: Option<String>,
    /// The `Host` values a request may carry (loopback listeners only; `None`: any).
    pub allowed_hosts: Option<Vec<String>>,
    /// The sorted children of the node last paged through (see [`tree`]).
    pub children: tree::ChildrenCache,
}

impl Shared {
    /// The current session (a new one after an expiry).
    pub fn client(&self) -> zk_client::Client {
        self.discovery.client().client()
    }

    /// Refuses a change unless the console was started with `--allow-writes`.
    pub fn require_writes(&self) -> std::result::Result<(), ApiError> {
        if self.allow_writes {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "the console is read-only: start it with --allow-writes to save changes",
            ))
        }
    }
}

pub(crate) type State = axum::extract::State<Arc<Shared>>;

/// A running console.
pub struct Console {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    discovery: ServiceDiscovery,
}

impl Console {
    /// Connects to the servers of `conn` and starts serving.
    pub async fn start(conn: &Connection, options: ConsoleOptions) -> Result<Console> {
        // Every instance, disabled ones too (shown as such); routing checks filter them
        // out as the router does.
        let discovery = conn
            .clone()
            .with_max_frame(MAX_REPLY)
            .discovery_with(CacheOptions {
                filters: Vec::new(),
                ..CacheOptions::default()
            })
            .await?;
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|e| CtlError::Other(format!("cannot listen on {}: {e}", options.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CtlError::Other(format!("cannot read the listening address: {e}")))?;
        let shared = Arc::new(Shared {
            conn: conn.clone(),
            services: services::LiveServices::start(discovery.clone()),
            discovery: discovery.clone(),
            allow_writes: options.allow_writes,
            token: options.token,
            allowed_hosts: addr
                .ip()
                .is_loopback()
                .then(|| guard::loopback_hosts(addr.port())),
            children: tree::ChildrenCache::default(),
        });
        if !shared.services.listed(conn.timeout()).await {
            tracing::warn!("services not listed yet; the services page fills in when they are");
        }
        let app = router(shared);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
        });
        tracing::info!(%addr, "console serving");
        Ok(Console {
            addr,
            shutdown: Some(shutdown),
            served,
            discovery,
        })
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and ends the session.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        // Open event streams never end by themselves: give them a moment, then cut.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.served).await;
        self.served.abort();
        let _ = self.discovery.close().await;
    }
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/style.css", get(assets::style))
        .route("/api/info", get(info))
        .route("/api/services", get(services::list))
        .route("/api/services/stream", get(services::stream))
        .route("/api/routes/{service}", get(rules::show).put(rules::save))
        .route("/api/routes/{service}/check", post(rules::check))
        .route("/api/routes/{service}/try", post(rules::try_request))
        .route("/api/tree", get(tree::show).put(tree::set_data))
        .route("/api/ensemble", get(ensemble::show))
        .fallback(reply::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::guard,
        ))
        .with_state(shared)
}

async fn info(axum::extract::State(s): State) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "server": s.conn.server,
        "allow_writes": s.allow_writes,
        "base_path": s.discovery.naming().base(),
    }))
}

/// Runs `zkctl console` until Ctrl-C: prints the address on stdout, then serves.
pub async fn run(conn: &Connection, args: ConsoleArgs) -> Result<()> {
    let options = ConsoleOptions::from(args);
    let writes = options.allow_writes;
    let console = Console::start(conn, options).await?;
    crate::output::print_line(&format!(
        "zkmesh console on http://{}/ ({})",
        console.addr(),
        if writes {
            "writes allowed"
        } else {
            "read-only"
        }
    ));
    let _ = tokio::signal::ctrl_c().await;
    console.stop().await;
    Ok(())
}
