//! placeholder
pub mod acl;
pub mod config;
pub mod core;
pub mod fourlw;
mod net;
pub mod prep;
mod reads;
mod server;
pub mod sessions;
pub mod tree;
pub mod txn;
pub mod watches;

pub use net::Snapshot;
pub use server::{ServerBuilder, ServerError, ServerHandle};
