//! Zab: how the members of an ensemble elect a leader, agree on one history and keep it
//! through crashes — as Apache ZooKeeper 3.8 does it, sans-IO.
//!
//! Everything here is a state machine: [`member::Member`] takes [`member::Input`]s
//! (election notifications, quorum messages, disk completions, client frames, ticks) with
//! the time they happen at, and answers with [`member::Action`]s (messages to send, links
//! to open or close, disk jobs, client frames). It never reads a clock, a socket or a
//! file, so a seeded simulation can drive whole ensembles through crashes, partitions
//! and lost messages and check every invariant after every step; the tokio shell
//! ([`crate::ensemble`]) drives the same code over TCP and files.
//!
//! # Driving a member
//! 1. Start it from its durable state: [`member::Member::new`] with what
//!    [`crate::storage::Storage::load`] read.
//! 2. Feed it every input, in the order it happened, with [`member::Member::handle`].
//! 3. After each input, run every action from [`member::Member::poll_action`] in order:
//!    disk jobs in issue order (report each with [`member::Input::Stored`] or
//!    [`member::Input::Loaded`]); messages on a link after those sent before on it.
//! 4. Call it with [`member::Input::Tick`] at [`member::Member::next_deadline`].
//!
//! # Pieces
//! - [`message`]: what members say, and its wire form.
//! - [`election`]: fast leader election; [`quorum`]: majorities.
//! - `leader` and `follower`: discovery, synchronisation and broadcast from either
//!   side; [`history`]: the txns kept for DIFF and the DIFF/TRUNC/SNAP choice.
//! - [`member`]: the phases and the glue to the client-facing core.

pub mod election;
pub(crate) mod follower;
pub mod history;
pub(crate) mod leader;
pub mod member;
pub mod message;
pub mod quorum;
