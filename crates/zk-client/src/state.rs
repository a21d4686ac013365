//! Session states as an application sees them, and the events watchers receive.

pub use zk_proto::EventType;

/// The state of a client's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Looking for a server (first connect, or after a disconnect).
    Connecting,
    /// Connected to a read-write server.
    Connected,
    /// Connected to a read-only server: reads work, writes fail with `NotReadOnly`.
    ConnectedReadOnly,
    /// The connection dropped; the client is reconnecting and the session may still be alive.
    Disconnected,
    /// The server expired the session: ephemerals are gone, watches fired. Terminal.
    Expired,
    /// The server refused the credentials. Terminal.
    AuthFailed,
    /// The application closed the client. Terminal.
    Closed,
}

impl SessionState {
    /// Whether requests can be served now.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::ConnectedReadOnly)
    }

    /// Whether the session is over for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Expired | Self::AuthFailed | Self::Closed)
    }
}

/// A watch notification, or the end of a watch.
///
/// Node events carry `state == SessionState::Connected`. When the session ends, every
/// outstanding watch receives one last event with `event_type == EventType::None` and the
/// terminal state (`Expired` or `Closed`). When a watch is removed with
/// [`Client::remove_watches`](crate::Client::remove_watches), its watchers receive
/// `DataWatchRemoved`, `ChildWatchRemoved` or `PersistentWatchRemoved`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened.
    pub event_type: EventType,
    /// The session state when it happened.
    pub state: SessionState,
    /// The node's path, chroot removed (empty for session events).
    pub path: String,
    /// The zxid of the change when the server reports it (3.9+), else -1.
    pub zxid: i64,
}

impl WatchedEvent {
    /// A session event (type `None`) in `state`.
    pub fn session(state: SessionState) -> Self {
        Self {
            event_type: EventType::None,
            state,
            path: String::new(),
            zxid: -1,
        }
    }
}
