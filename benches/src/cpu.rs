//! CPU time of the whole process (every thread, live or exited), for W1's CPU per job and W5's
//! idle cost; voluntary context switches, for W7.

use std::time::Duration;

/// The CPU time this process has used so far (`CLOCK_PROCESS_CPUTIME_ID`, nanosecond
/// resolution; `/proc/self/stat` counts in 10 ms ticks, too coarse for an idle pool). `None`
/// where the platform has no such clock.
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        use rustix::time::{ClockId, clock_gettime};
        let t = clock_gettime(ClockId::ProcessCPUTime);
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u32::try_from(t.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Voluntary context switches of the process's live threads so far (the times a thread gave
/// up the CPU to wait): the sum of `voluntary_ctxt_switches` over `/proc/self/task/*/status`
/// (`getrusage` would need `unsafe`, which this crate forbids). A thread that exits between two
/// readings takes its count with it, so a difference covers only threads alive at both ends
/// (the pools measured keep theirs). `None` off Linux.
pub fn voluntary_context_switches() -> Option<u64> {
    context_switches("voluntary_ctxt_switches:")
}

/// Involuntary context switches (preemptions) of the process's live threads so far, as
/// [`voluntary_context_switches`] reads them (`nonvoluntary_ctxt_switches`).
pub fn involuntary_context_switches() -> Option<u64> {
    context_switches("nonvoluntary_ctxt_switches:")
}

/// The sum of one `/proc/self/task/*/status` counter over the live threads.
fn context_switches(field: &str) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut total = 0u64;
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let Ok(task) = task else { continue };
            // A thread may exit while we read: skip it.
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue;
            };
            let n = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().parse::<u64>().ok())?;
            total += n;
        }
        Some(total)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = field;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spinning moves the clock on. Spinning for a span of wall time is not enough to show it on
    /// a loaded machine (the thread may get a fraction of that on a core), so the test spins
    /// until the clock has moved 4 ms, and fails if it has not within 10 s of wall time.
    #[cfg(unix)]
    #[test]
    fn spinning_uses_cpu_time() {
        let before = process_cpu_time().expect("unix has a process CPU clock");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut now = before;
        while now.saturating_sub(before) < Duration::from_millis(4) {
            assert!(
                std::time::Instant::now() < deadline,
                "10 s of spinning moved the process CPU clock only {before:?} -> {now:?}"
            );
            crate::Work::Spin(Duration::from_millis(1)).run();
            now = process_cpu_time().expect("unix has a process CPU clock");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sleeping_is_a_voluntary_context_switch() {
        let before = voluntary_context_switches().expect("linux has /proc/self/task");
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let after = voluntary_context_switches().expect("linux has /proc/self/task");
        assert!(after >= before + 10, "{before} -> {after}");
    }
}
