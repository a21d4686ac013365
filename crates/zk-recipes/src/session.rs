//! Where a recipe gets its ZooKeeper session: a plain [`Client`] (one session; whatever
//! is held ends with it) or a [`ManagedClient`] (a new session after an expiry, which a
//! leader latch, for one, joins again).

use std::time::Duration;

use tokio::sync::broadcast;
use zk_client::retry::ExponentialBackoff;
use zk_client::{Client, ManagedClient, SessionEvent};

/// A recipe's source of sessions.
#[derive(Clone, Debug)]
pub enum Session {
    /// One session.
    Fixed(Client),
    /// The current session of a managed client.
    Managed(ManagedClient),
}

impl Session {
    /// The session to use now.
    pub fn client(&self) -> Client {
        match self {
            Session::Fixed(c) => c.clone(),
            Session::Managed(m) => m.client(),
        }
    }

    /// The managed client, if this is one.
    pub fn managed(&self) -> Option<&ManagedClient> {
        match self {
            Session::Fixed(_) => None,
            Session::Managed(m) => Some(m),
        }
    }
}

impl From<Client> for Session {
    fn from(c: Client) -> Self {
        Session::Fixed(c)
    }
}

impl From<&Client> for Session {
    fn from(c: &Client) -> Self {
        Session::Fixed(c.clone())
    }
}

impl From<ManagedClient> for Session {
    fn from(m: ManagedClient) -> Self {
        Session::Managed(m)
    }
}

impl From<&ManagedClient> for Session {
    fn from(m: &ManagedClient) -> Self {
        Session::Managed(m.clone())
    }
}

/// How the recipes retry a call that met a connection loss: short jittered pauses,
/// doubling, for as long as the session may still be alive (the retry loop gives up when
/// the connection has been gone for the session timeout, see `zk_client::retry`).
pub(crate) fn retry_policy() -> ExponentialBackoff {
    ExponentialBackoff::new(Duration::from_millis(50), 29)
}

/// After a session ended: with a managed client's `events`, waits for its next session
/// (`true`); `false` when there will be none (not managed, or closed).
pub(crate) async fn next_session(events: &mut Option<broadcast::Receiver<SessionEvent>>) -> bool {
    let Some(events) = events.as_mut() else {
        return false;
    };
    loop {
        match events.recv().await {
            Ok(SessionEvent::NewSession { .. }) => return true,
            Ok(SessionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => return false,
            _ => {}
        }
    }
}
