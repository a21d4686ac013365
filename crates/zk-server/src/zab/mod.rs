//! Zab: the ensemble protocol (placeholder module docs; see `member`).

pub mod election;
pub mod message;
pub mod quorum;
