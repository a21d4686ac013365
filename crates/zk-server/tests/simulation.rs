//! The deterministic simulation of whole ensemble members: seeded runs with crashes (at
//! any point, including between a disk write and its acknowledgement), partitions,
//! lost, duplicated and reordered election messages, and clients doing real protocol
//! traffic, with the Zab invariants checked after every step (see `sim/check.rs`).
//!
//! The checks have teeth: each of these bugs, put into the code on purpose, is caught
//! within the first seeds — a commit without a quorum; an ACK before the fsync; a
//! NEWLEADER ack before the synced history is durable (ZOOKEEPER-3911); currentEpoch
//! persisted before the history (4643); voting before the disk is idle (4712, 2845); a
//! SNAP applied in memory but not on disk (3642); votes ordered without the epoch. (The
//! leader's follower-ahead check is defence in depth that election rarely needs: removing
//! it went unnoticed over 600 seeds.)
//!
//! CI runs a fixed seed budget; more by hand:
//! `ZK_SIM_SEEDS=20000 cargo test --release -p zk-server --test simulation` (the number
//! is per member count). A failing seed is printed; replay it (with a trace) by
//! `ZK_SIM_SEED=<seed> ZK_SIM_TRACE=1 cargo test -p zk-server --test simulation`.

mod sim;

use sim::world::Settings;

/// The seeds to run: `ZK_SIM_SEED` alone, or `ZK_SIM_SEEDS` in place of the CI budget
/// (each test then runs its share of them).
fn seeds(range: std::ops::Range<u64>, total: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("ZK_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return if range.contains(&seed) || (seed >= total && range.end == total) {
            vec![seed]
        } else {
            Vec::new()
        };
    }
    match std::env::var("ZK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => {
            let scale = |x: u64| x * n / total;
            (scale(range.start)..scale(range.end)).collect()
        }
        None => range.collect(),
    }
}

fn run_all(members: usize, salt: u64, range: std::ops::Range<u64>, total: u64) {
    let mut steps = 0;
    let seeds = seeds(range, total);
    for &seed in &seeds {
        let settings = Settings {
            members,
            ..Settings::default()
        };
        match sim::run(seed ^ salt, settings) {
            Ok(s) => steps += s,
            Err(why) => panic!(
                "seed {seed} ({members} members) broke an invariant: {why}\n\
                 replay: ZK_SIM_SEED={seed} ZK_SIM_TRACE=1 cargo test -p zk-server --test simulation {}_members",
                if members == 3 { "three" } else { "five" }
            ),
        }
    }
    eprintln!("{} seeds, {steps} steps, every invariant held", seeds.len());
}

/// The CI budget: 1 500 seeds of three members and 600 of five, in a minute or so per
/// core. More by hand: `ZK_SIM_SEEDS=20000 cargo test --release -p zk-server --test simulation`.
const THREE: u64 = 1500;
const FIVE: u64 = 600;

#[test]
fn three_members_keep_every_invariant_through_faults_a() {
    run_all(3, 0, 0..THREE / 2, THREE);
}

#[test]
fn three_members_keep_every_invariant_through_faults_b() {
    run_all(3, 0, THREE / 2..THREE, THREE);
}

#[test]
fn five_members_keep_every_invariant_through_faults_a() {
    run_all(5, 0x5eed_0005, 0..FIVE / 2, FIVE);
}

#[test]
fn five_members_keep_every_invariant_through_faults_b() {
    run_all(5, 0x5eed_0005, FIVE / 2..FIVE, FIVE);
}
