//! A deterministic simulation of whole ensemble members (see `world`).

pub mod check;
pub mod client;
pub mod faults;
pub mod world;

use std::time::Duration;

use world::{Settings, World};

/// Runs one seed; `Err` names the first invariant broken.
pub fn run(seed: u64, settings: Settings) -> Result<u64, String> {
    let chaos = settings.chaos;
    let calm = settings.calm;
    let mut world = World::new(seed, settings);
    world.run_until(chaos + Duration::from_millis(1));
    if let Some(f) = world.checker.failure() {
        return Err(f.to_owned());
    }
    // Make sure the heal happened even if no fault event was due.
    if !world.chaos_over {
        faults::inject(&mut world);
    }
    world.run_until(chaos + calm - Duration::from_secs(3));
    world.quiet = true;
    world.run_until(chaos + calm);
    // The last commits may still be on their way: let them land (bounded).
    let mut settle = 0;
    while settle < 20 && !world.converged() {
        settle += 1;
        let t = world.now + Duration::from_millis(100);
        world.run_until(t);
    }
    let mut checker = std::mem::take(&mut world.checker);
    checker.finish(&world);
    world.checker = checker;
    if std::env::var_os("ZK_SIM_STATS").is_some() {
        let ops: u64 = world.clients.iter().map(|c| c.completed).sum();
        eprintln!(
            "seed {seed}: {} steps, {} epochs established, {ops} client replies, {} acknowledged or seen nodes",
            world.checker.steps,
            world.checker.epochs(),
            world.checker.nodes_seen()
        );
    }
    match world.checker.failure() {
        Some(f) => Err(format!("{f} (at {:?})", world.now)),
        None => Ok(world.checker.steps),
    }
}
