//! Coordination recipes on `zk-client`, in Apache Curator's znode layouts and protocols,
//! so that a Rust process and a Java process using Curator on the same paths contend for
//! one lock and elect one leader.
//!
//! | recipe | Curator's | what for |
//! |---|---|---|
//! | [`InterProcessMutex`] | `InterProcessMutex` | one holder at a time, re-entrant |
//! | [`InterProcessReadWriteLock`] | `InterProcessReadWriteLock` | many readers or one writer |
//! | [`InterProcessSemaphoreV2`] | `InterProcessSemaphoreV2` | at most N leases |
//! | [`LeaderLatch`] | `LeaderLatch` | one leader among candidates, as a watch channel |
//! | [`LeaderSelector`] | `LeaderSelector` | take turns leading: work runs while leading, cancelled when leadership is at risk |
//! | [`SharedCount`] | `SharedCount` | a shared integer with versioned updates |
//! | [`DistributedAtomicLong`] | `DistributedAtomicLong` | an optimistic counter |
//! | [`DistributedBarrier`], [`DistributedDoubleBarrier`] | the same | start or leave together |
//! | [`NodeCache`] | `NodeCache` | one node's data, watched |
//! | [`TreeCache`] | `CuratorCache` | a subtree's data, watched, with change events |
//!
//! # Faults
//! Every call that meets a connection loss is retried while the session may live
//! (`zk_client::retry`); creates of sequential nodes are protected (`_c_<guid>-` names),
//! so a create whose reply was lost is found and adopted, not made twice. A holder learns
//! that it *may* have lost what it holds the moment the connection drops, and that it *has*
//! lost it when the session ends ([`LockState`], [`Leadership`]). Waiters watch only the node
//! before them. A dropped waiter or guard leaves no node behind.
//!
//! Dependencies: only the workspace's own (`zk-client`, tokio, futures, rand, tracing,
//! thiserror).

#![warn(missing_docs)]

pub mod atomic_long;
pub mod barrier;
mod contention;
pub mod error;
pub mod leader_latch;
pub mod leader_selector;
pub mod mutex;
pub mod node_cache;
mod paths;
pub mod rwlock;
pub mod semaphore;
pub mod session;
pub mod shared_count;
pub mod tree_cache;

pub use atomic_long::{AtomicValue, DistributedAtomicLong};
pub use barrier::{DistributedBarrier, DistributedDoubleBarrier};
pub use error::{RecipeError, Result};
pub use leader_latch::{LeaderLatch, Leadership};
pub use leader_selector::{LeaderSelector, Leading, Led};
pub use mutex::{InterProcessMutex, LockGuard, LockState};
pub use node_cache::{NodeCache, NodeData};
pub use rwlock::InterProcessReadWriteLock;
pub use semaphore::{InterProcessSemaphoreV2, Lease};
pub use session::Session;
pub use shared_count::{SharedCount, VersionedValue};
pub use tree_cache::{TreeCache, TreeEvent, TreeSnapshot};
