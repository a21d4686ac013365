//! `InterProcessReadWriteLock`: Curator's read-write lock. Readers share, a writer
//! excludes everyone; both kinds queue under one node in one order (`_c_<guid>-__READ__N`,
//! `_c_<guid>-__WRIT__N`), so a waiting writer holds back readers that come after it
//! (no writer starvation).
//!
//! A writer holds the lock when nobody is before it, and watches the node just before
//! it; a reader holds it when no writer is before it, and watches the first writer.
//! The write lock's holder may take the read lock too (and, releasing the write lock
//! first, downgrade); a reader asking for the write lock waits for itself, forever
//! without a timeout, as in Curator: don't.
//!
//! Both halves are [`InterProcessMutex`]es, with their guarantees and re-entrancy.

use crate::error::Result;
use crate::mutex::InterProcessMutex;
use crate::session::Session;

/// Curator's read lock name.
pub const READ_NAME: &str = "__READ__";
/// Curator's write lock name (sic: the same length as the read one).
pub const WRITE_NAME: &str = "__WRIT__";
const NAMES: &[&str] = &[READ_NAME, WRITE_NAME];

/// A read-write lock at a path, in Curator's layout.
#[derive(Debug, Clone)]
pub struct InterProcessReadWriteLock {
    read: InterProcessMutex,
    write: InterProcessMutex,
}

impl InterProcessReadWriteLock {
    /// The lock at `path`.
    pub fn new(session: impl Into<Session>, path: &str) -> Result<Self> {
        let session = session.into();
        let write = InterProcessMutex::with_names(session.clone(), path, WRITE_NAME, NAMES, None)?;
        let read =
            InterProcessMutex::with_names(session, path, READ_NAME, NAMES, Some(write.clone()))?;
        Ok(Self { read, write })
    }

    /// The shared half.
    pub fn read_lock(&self) -> &InterProcessMutex {
        &self.read
    }

    /// The exclusive half.
    pub fn write_lock(&self) -> &InterProcessMutex {
        &self.write
    }
}
