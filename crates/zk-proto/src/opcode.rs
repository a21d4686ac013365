//! `ZooDefs.OpCode`: the operation numbers in `RequestHeader.type` and `MultiHeader.type`.

use crate::codec::DecodeError;

/// A request opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum OpCode {
    /// Never sent as a request.
    Notification = 0,
    /// create.
    Create = 1,
    /// delete.
    Delete = 2,
    /// exists.
    Exists = 3,
    /// getData.
    GetData = 4,
    /// setData.
    SetData = 5,
    /// getACL.
    GetAcl = 6,
    /// setACL.
    SetAcl = 7,
    /// getChildren.
    GetChildren = 8,
    /// sync.
    Sync = 9,
    /// ping (xid -2).
    Ping = 11,
    /// getChildren2 (children + Stat).
    GetChildren2 = 12,
    /// check (only inside multi).
    Check = 13,
    /// multi (atomic).
    Multi = 14,
    /// create2 (path + Stat).
    Create2 = 15,
    /// reconfig.
    Reconfig = 16,
    /// checkWatches.
    CheckWatches = 17,
    /// removeWatches.
    RemoveWatches = 18,
    /// createContainer.
    CreateContainer = 19,
    /// deleteContainer (server-internal).
    DeleteContainer = 20,
    /// createTTL.
    CreateTtl = 21,
    /// multiRead (non-atomic reads).
    MultiRead = 22,
    /// auth (xid -4).
    Auth = 100,
    /// setWatches.
    SetWatches = 101,
    /// sasl.
    Sasl = 102,
    /// getEphemerals.
    GetEphemerals = 103,
    /// getAllChildrenNumber.
    GetAllChildrenNumber = 104,
    /// setWatches2.
    SetWatches2 = 105,
    /// addWatch.
    AddWatch = 106,
    /// whoAmI.
    WhoAmI = 107,
    /// createSession (txn only).
    CreateSession = -10,
    /// closeSession.
    CloseSession = -11,
    /// error (failed txn; error entries in multi).
    Error = -1,
}

impl OpCode {
    /// The wire number.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The opcode with wire number `code`.
    pub fn from_code(code: i32) -> Result<Self, DecodeError> {
        use OpCode::*;
        Ok(match code {
            0 => Notification,
            1 => Create,
            2 => Delete,
            3 => Exists,
            4 => GetData,
            5 => SetData,
            6 => GetAcl,
            7 => SetAcl,
            8 => GetChildren,
            9 => Sync,
            11 => Ping,
            12 => GetChildren2,
            13 => Check,
            14 => Multi,
            15 => Create2,
            16 => Reconfig,
            17 => CheckWatches,
            18 => RemoveWatches,
            19 => CreateContainer,
            20 => DeleteContainer,
            21 => CreateTtl,
            22 => MultiRead,
            100 => Auth,
            101 => SetWatches,
            102 => Sasl,
            103 => GetEphemerals,
            104 => GetAllChildrenNumber,
            105 => SetWatches2,
            106 => AddWatch,
            107 => WhoAmI,
            -10 => CreateSession,
            -11 => CloseSession,
            -1 => Error,
            value => {
                return Err(DecodeError::InvalidValue {
                    field: "opcode",
                    value: value.into(),
                })
            }
        })
    }

    /// Whether the operation is a write (goes through consensus and consumes a zxid),
    /// as Apache's `Request.isQuorum`.
    pub fn is_write(self) -> bool {
        use OpCode::*;
        matches!(
            self,
            Create
                | Create2
                | CreateTtl
                | CreateContainer
                | Delete
                | DeleteContainer
                | SetData
                | SetAcl
                | Check
                | Multi
                | Reconfig
                | CreateSession
                | CloseSession
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_defined_code_round_trips() {
        for code in -20..200 {
            if let Ok(op) = OpCode::from_code(code) {
                assert_eq!(op.code(), code);
            }
        }
        assert!(OpCode::from_code(10).is_err());
        assert!(OpCode::from_code(55).is_err());
    }
}
