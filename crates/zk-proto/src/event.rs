//! Watch notifications (`WatcherEvent`) and the enumerations around them: event types,
//! keeper states, watcher types for check/removeWatches, and addWatch modes.

use bytes::{Buf, BufMut};

use crate::codec::{
    read_i32, read_string, write_string, Decode, DecodeError, DecodeResult, Encode,
};

/// `Watcher.Event.EventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    /// A session state change (client-local).
    None = -1,
    /// The node was created.
    NodeCreated = 1,
    /// The node was deleted.
    NodeDeleted = 2,
    /// The node's data changed.
    NodeDataChanged = 3,
    /// The node's children changed.
    NodeChildrenChanged = 4,
    /// A data watch was removed (client-local).
    DataWatchRemoved = 5,
    /// A child watch was removed (client-local).
    ChildWatchRemoved = 6,
    /// A persistent watch was removed (client-local).
    PersistentWatchRemoved = 7,
}

impl EventType {
    /// The event type for a wire number.
    pub fn from_code(code: i32) -> DecodeResult<Self> {
        Ok(match code {
            -1 => Self::None,
            1 => Self::NodeCreated,
            2 => Self::NodeDeleted,
            3 => Self::NodeDataChanged,
            4 => Self::NodeChildrenChanged,
            5 => Self::DataWatchRemoved,
            6 => Self::ChildWatchRemoved,
            7 => Self::PersistentWatchRemoved,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "event type",
                    value: v.into(),
                })
            }
        })
    }
}

/// `Watcher.Event.KeeperState` values.
pub mod keeper_state {
    /// Disconnected.
    pub const DISCONNECTED: i32 = 0;
    /// Connected (also the state of every server notification).
    pub const SYNC_CONNECTED: i32 = 3;
    /// Authentication failed.
    pub const AUTH_FAILED: i32 = 4;
    /// Connected to a read-only server.
    pub const CONNECTED_READ_ONLY: i32 = 5;
    /// SASL authenticated.
    pub const SASL_AUTHENTICATED: i32 = 6;
    /// Session expired.
    pub const EXPIRED: i32 = -112;
    /// Client closed.
    pub const CLOSED: i32 = 7;
}

/// `Watcher.WatcherType`, used by checkWatches and removeWatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum WatcherType {
    /// Child watches.
    Children = 1,
    /// Data and exists watches.
    Data = 2,
    /// Any watch.
    Any = 3,
    /// Persistent watches (3.9+ servers).
    Persistent = 4,
    /// Persistent recursive watches (3.9+ servers).
    PersistentRecursive = 5,
}

impl WatcherType {
    /// The watcher type for a wire number.
    pub fn from_code(code: i32) -> DecodeResult<Self> {
        Ok(match code {
            1 => Self::Children,
            2 => Self::Data,
            3 => Self::Any,
            4 => Self::Persistent,
            5 => Self::PersistentRecursive,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "watcher type",
                    value: v.into(),
                })
            }
        })
    }
}

/// `ZooDefs.AddWatchModes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum AddWatchMode {
    /// Data and child events on the node, re-armed after each firing.
    Persistent = 0,
    /// Data events on the node and every descendant, re-armed.
    PersistentRecursive = 1,
}

impl AddWatchMode {
    /// The mode for a wire number.
    pub fn from_code(code: i32) -> DecodeResult<Self> {
        match code {
            0 => Ok(Self::Persistent),
            1 => Ok(Self::PersistentRecursive),
            v => Err(DecodeError::InvalidValue {
                field: "add watch mode",
                value: v.into(),
            }),
        }
    }
}

/// A notification body (after a `ReplyHeader` with xid -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    /// An [`EventType`] wire number.
    pub event_type: i32,
    /// A keeper state; always SyncConnected from a server.
    pub state: i32,
    /// The full server path.
    pub path: String,
}

impl Encode for WatcherEvent {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_i32(self.event_type);
        buf.put_i32(self.state);
        write_string(buf, &self.path);
    }
}

impl Decode for WatcherEvent {
    fn decode<B: Buf>(buf: &mut B) -> DecodeResult<Self> {
        Ok(Self {
            event_type: read_i32(buf)?,
            state: read_i32(buf)?,
            path: read_string(buf)?,
        })
    }
}
