//! The CPU time this process has used, for tests and benchmarks that compare the cost of
//! work (per operation, per proposal) rather than its wall-clock time.

use std::time::Duration;

/// User plus system CPU time of this process so far (`getrusage`, microsecond
/// resolution); zero if the call fails.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct it is given.
    let (ok, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let ok = libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0;
        (ok, usage)
    };
    if !ok {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_done_shows_up_as_cpu_time() {
        let before = process_cpu_time();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_time() > before, "{x}");
    }
}
