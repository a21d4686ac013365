//! `CreateMode`: the enumerated `flags` of create requests (not a bitmask), and which
//! opcode each mode travels with.

use crate::codec::DecodeError;
use crate::opcode::OpCode;

/// How a node is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum CreateMode {
    /// Lives until deleted.
    Persistent = 0,
    /// Deleted when the creating session ends.
    Ephemeral = 1,
    /// Persistent, with a 10-digit counter appended to the name.
    PersistentSequential = 2,
    /// Ephemeral, with a counter appended.
    EphemeralSequential = 3,
    /// Deleted by the server once its last child is gone.
    Container = 4,
    /// Deleted by the server when unmodified and childless for its TTL.
    PersistentWithTtl = 5,
    /// TTL node with a counter appended.
    PersistentSequentialWithTtl = 6,
}

impl CreateMode {
    /// The wire `flags` value.
    pub fn flags(self) -> i32 {
        self as i32
    }

    /// The mode for a `flags` value; other values are BADARGUMENTS on the server.
    pub fn from_flags(flags: i32) -> Result<Self, DecodeError> {
        Ok(match flags {
            0 => Self::Persistent,
            1 => Self::Ephemeral,
            2 => Self::PersistentSequential,
            3 => Self::EphemeralSequential,
            4 => Self::Container,
            5 => Self::PersistentWithTtl,
            6 => Self::PersistentSequentialWithTtl,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "create flags",
                    value: v.into(),
                })
            }
        })
    }

    /// Whether the node is tied to its session.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Ephemeral | Self::EphemeralSequential)
    }

    /// Whether the server appends a sequence number.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// Whether the node is a container.
    pub fn is_container(self) -> bool {
        self == Self::Container
    }

    /// Whether the node has a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }

    /// The opcode a create in this mode must use (Apache's Java client choice for the
    /// Stat-returning forms): create2, createContainer or createTTL.
    pub fn opcode(self) -> OpCode {
        if self.is_container() {
            OpCode::CreateContainer
        } else if self.is_ttl() {
            OpCode::CreateTtl
        } else {
            OpCode::Create2
        }
    }
}
