//! A client that outlives its sessions: when ZooKeeper expires the session, a new one is
//! established and everyone interested is told, as Curator's `CuratorFramework` does.
//!
//! Owns the current [`Client`], the reconnect-after-expiry loop (with back-off) and the
//! [`SessionEvent`] stream that recipes such as service registration use to restore their
//! ephemeral state. It does not restore anything itself: what an application had in the
//! old session (ephemerals, watches) is the application's to re-create.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;

use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::state::SessionState;

/// What happened to the managed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// The connection dropped; the session may still be alive (Curator's SUSPENDED).
    Suspended,
    /// The same session is connected again (Curator's RECONNECTED).
    Reconnected,
    /// The session expired (Curator's LOST); a new one is being established.
    Lost,
    /// A new session replaced an expired one: ephemeral nodes and watches of the old
    /// session are gone and must be re-created.
    NewSession {
        /// The new session's id.
        session_id: i64,
    },
    /// The managed client is done: it was closed, its session was closed or refused
    /// authentication, or a new session was refused. No session will follow.
    Closed,
}

struct Inner {
    builder: ClientBuilder,
    connect_string: String,
    current: RwLock<Client>,
    events: broadcast::Sender<SessionEvent>,
    backoff: (Duration, Duration),
}

/// A [`Client`] that is replaced by a fresh session whenever its session expires.
/// Cheap to clone.
#[derive(Clone)]
pub struct ManagedClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ManagedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedClient")
            .field("connect_string", &self.inner.connect_string)
            .finish_non_exhaustive()
    }
}

impl ManagedClient {
    /// Connects with `builder` and keeps a session alive from then on.
    pub async fn connect(builder: ClientBuilder, connect_string: &str) -> Result<ManagedClient> {
        let client = builder.clone().connect(connect_string).await?;
        let (events, _) = broadcast::channel(64);
        let inner = Arc::new(Inner {
            builder,
            connect_string: connect_string.to_owned(),
            current: RwLock::new(client.clone()),
            events,
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
        });
        // The supervisor holds only the event stream, never a `Client`: dropping every
        // `ManagedClient` must still close the session.
        tokio::spawn(supervise(Arc::downgrade(&inner), client.session_events()));
        Ok(ManagedClient { inner })
    }

    /// The client of the current session.
    pub fn client(&self) -> Client {
        match self.inner.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Session events from now on.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// Closes the current session; no new one will be made.
    pub async fn close(&self) -> Result<()> {
        let client = self.client();
        let r = client.close().await;
        let _ = self.inner.events.send(SessionEvent::Closed);
        r
    }
}

/// Follows the current session; on expiry, connects a new one (backing off while that
/// fails) and announces it. Ends when the managed client is dropped or closed.
async fn supervise(
    inner: std::sync::Weak<Inner>,
    mut states: futures::stream::BoxStream<'static, SessionState>,
) {
    loop {
        let mut was_disconnected = false;
        let ended = loop {
            let Some(state) = states.next().await else {
                break SessionState::Closed;
            };
            let Some(inner) = inner.upgrade() else { return };
            match state {
                SessionState::Disconnected => {
                    was_disconnected = true;
                    let _ = inner.events.send(SessionEvent::Suspended);
                }
                SessionState::Connected | SessionState::ConnectedReadOnly if was_disconnected => {
                    was_disconnected = false;
                    let _ = inner.events.send(SessionEvent::Reconnected);
                }
                s if s.is_terminal() => break s,
                _ => {}
            }
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        match ended {
            SessionState::Expired => {
                tracing::warn!("session expired; establishing a new one");
                let _ = strong.events.send(SessionEvent::Lost);
            }
            // Closed by the application, or authentication failed: nothing to restore, and
            // no new session will come; say so, or whoever waits for one waits forever.
            _ => {
                let _ = strong.events.send(SessionEvent::Closed);
                return;
            }
        }
        let mut delay = strong.backoff.0;
        let max = strong.backoff.1;
        let (builder, connect) = (strong.builder.clone(), strong.connect_string.clone());
        drop(strong);
        let fresh = loop {
            match builder.clone().connect(&connect).await {
                Ok(c) => break c,
                Err(Error::AuthFailed) => {
                    tracing::warn!("a new session was refused (authentication failed); giving up");
                    if let Some(inner) = inner.upgrade() {
                        let _ = inner.events.send(SessionEvent::Closed);
                    }
                    return;
                }
                Err(e) => {
                    tracing::info!(error = %e, ?delay, "new session not established yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max);
                    if inner.upgrade().is_none() {
                        return;
                    }
                }
            }
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let session_id = fresh.session_id();
        states = fresh.session_events();
        match strong.current.write() {
            Ok(mut c) => *c = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        tracing::info!(
            session_id = format_args!("{session_id:#x}"),
            "new session established"
        );
        let _ = strong.events.send(SessionEvent::NewSession { session_id });
    }
}
