//! Fault injection while the chaos lasts: crashes (restarted later), partitions (healed
//! later). When the chaos phase ends everything is healed and every member restarted.

use std::time::Duration;

use rand::Rng;

use super::world::{Event, World};

pub fn inject(world: &mut World) {
    if world.now >= world.settings.chaos {
        heal_all(world);
        return;
    }
    let next = world.now + Duration::from_millis(world.rng.gen_range(200..1500));
    world.schedule(next, Event::Fault);
    let n = world.nodes.len();
    let down = (0..n).filter(|&i| !world.is_up(i)).count();
    match world.rng.gen_range(0..100) {
        // Crash a member: usually a minority, sometimes more (no quorum for a while).
        0..=44 => {
            let limit = if world.rng.gen_bool(0.8) {
                world.max_down
            } else {
                n
            };
            if down < limit {
                let up: Vec<usize> = (0..n).filter(|&i| world.is_up(i)).collect();
                // The leader is the favourite target.
                let leader = up.iter().copied().find(|&i| {
                    world.nodes[i]
                        .member
                        .as_ref()
                        .is_some_and(|m| m.established_epoch().is_some())
                });
                // Or a member with disk writes in flight (the interesting crashes).
                let busy = up.iter().copied().find(|&i| world.disk_busy(i));
                let victim = match (leader, busy) {
                    (Some(l), _) if world.rng.gen_bool(0.4) => l,
                    (_, Some(b)) if world.rng.gen_bool(0.5) => b,
                    _ => up[world.rng.gen_range(0..up.len())],
                };
                world.crash(victim);
                let back = world.now + Duration::from_millis(world.rng.gen_range(100..3000));
                world.schedule(back, Event::Restart(victim));
            }
        }
        // Partition: isolate one member, or split in two.
        45..=74 => {
            if world.groups.is_none() {
                let mut groups = vec![0u8; n];
                if world.rng.gen_bool(0.5) {
                    let i = world.rng.gen_range(0..n);
                    groups[i] = 1;
                } else {
                    for g in groups.iter_mut() {
                        *g = world.rng.gen_range(0..2);
                    }
                }
                if world.trace {
                    eprintln!("{:?} partition {groups:?}", world.now);
                }
                world.groups = Some(groups);
            }
        }
        // Heal.
        _ => {
            if world.trace && world.groups.is_some() {
                eprintln!("{:?} heal", world.now);
            }
            world.heal();
        }
    }
}

fn heal_all(world: &mut World) {
    if world.trace {
        eprintln!("{:?} chaos over: heal and restart everything", world.now);
    }
    world.heal();
    world.chaos_over = true;
    for i in 0..world.nodes.len() {
        if !world.is_up(i) {
            world.schedule(world.now, Event::Restart(i));
        }
    }
}
