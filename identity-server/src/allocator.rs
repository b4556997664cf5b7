//! The server's share of glibc's allocator: fewer arenas, fixed thresholds, and freed memory
//! given back once a burst is over (see the `glibc-malloc` crate for the calls themselves).
//!
//! A login flood (200 TLS connections at once, each with its buffers, pages and requests in
//! flight) leaves tens of MB in glibc's free lists: every thread that allocates under
//! contention gets an arena of its own (up to 8 per core) and each keeps what was freed in it.
//! Nothing holds that memory, but it stays resident. So, in the binary only (process-wide
//! settings belong to the process, not to a library that tests or the demo embed):
//!
//! - [`tune`] (first thing in `main`, before any thread): at most one arena per core, and
//!   fixed mmap / trim thresholds of 128 KiB (glibc's defaults, but no longer raised by every
//!   large block freed, which would keep later large buffers in the heap for good). glibc's
//!   own environment variables (`MALLOC_ARENA_MAX`, ...) still win when set.
//! - [`spawn_trimmer`]: a thread that wakes every [`TICK`]; when the process used less than
//!   [`IDLE_CPU`] of CPU over the last tick and the allocator holds at least [`TRIM_ABOVE`]
//!   more free bytes than the least it held since the last trim (what a trim cannot give back,
//!   partly used pages, stays counted as free), it calls `malloc_trim(0)`, which returns every
//!   whole free page of every arena. Under load it does nothing (the memory is about to be
//!   reused); after a burst the memory goes back within a few seconds. A trim takes well under
//!   a millisecond.
//!
//! On targets without glibc both are no-ops.

use std::time::Duration;

/// How often the trimmer looks at the process.
pub const TICK: Duration = Duration::from_secs(1);

/// CPU time per [`TICK`] below which the process counts as idle (2 % of one core: a few
/// requests per second still count as idle, a login every 100 ms does not).
pub const IDLE_CPU: Duration = Duration::from_millis(20);

/// Free bytes gained since the last trim that make the next idle tick trim (1 MiB).
pub const TRIM_ABOVE: usize = 1024 * 1024;

/// Mmap and trim thresholds (glibc's default start values, fixed).
const THRESHOLD_BYTES: usize = 128 * 1024;

/// Limits the arenas to one per core and fixes the thresholds. Call before any other thread
/// starts. An operator's own choice wins: with `MALLOC_ARENA_MAX` set, the arena count is left
/// alone; with `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` set, the
/// thresholds are. Returns whether the allocator took every setting it was given (`false`
/// without glibc).
pub fn tune() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = set("MALLOC_ARENA_MAX") || glibc_malloc::limit_arenas(cores);
    let thresholds = set("MALLOC_MMAP_THRESHOLD_")
        || set("MALLOC_TRIM_THRESHOLD_")
        || set("GLIBC_TUNABLES")
        || glibc_malloc::set_fixed_thresholds(THRESHOLD_BYTES, THRESHOLD_BYTES);
    glibc_malloc::SUPPORTED && arenas && thresholds
}

/// What the trimmer does on one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Leave the memory to the allocator (busy, or little to give back).
    Wait,
    /// Give free pages back now.
    Trim,
}

/// The trimmer's rule (plain state, tested below): trim when the process was idle over the last
/// tick and the allocator holds at least [`TRIM_ABOVE`] more free bytes than its floor, the
/// fewest free bytes seen since the last trim (right after it, or less once requests reused
/// them).
#[derive(Debug)]
pub struct Rule {
    floor: usize,
}

impl Default for Rule {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule {
    /// No trim yet: the floor is the first measurement.
    pub fn new() -> Self {
        Self { floor: usize::MAX }
    }

    /// One tick: `cpu` used by the process over it, `free` bytes the allocator holds now.
    pub fn tick(&mut self, cpu: Duration, free: usize) -> Decision {
        self.floor = self.floor.min(free);
        if cpu < IDLE_CPU && free >= self.floor.saturating_add(TRIM_ABOVE) {
            Decision::Trim
        } else {
            Decision::Wait
        }
    }

    /// A trim happened and left `free` bytes free (what it could not give back).
    pub fn trimmed(&mut self, free: usize) {
        self.floor = free;
    }
}

/// Starts the trimmer thread (`memory-trim`) unless the allocator is not glibc. It runs for the
/// life of the process and holds nothing but two counters.
pub fn spawn_trimmer() -> std::io::Result<()> {
    if !glibc_malloc::SUPPORTED {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("memory-trim".into())
        .spawn(trimmer)?;
    Ok(())
}

fn trimmer() {
    // Without the CPU clock the process cannot be told idle: stop rather than trim under load.
    let cpu_now = || {
        let cpu = glibc_malloc::process_cpu_time();
        if cpu.is_none() {
            tracing::warn!("the process CPU clock failed; the memory-trim thread stops");
        }
        cpu
    };
    let Some(mut last_cpu) = cpu_now() else {
        return;
    };
    let mut rule = Rule::new();
    loop {
        std::thread::sleep(TICK);
        let Some(cpu) = cpu_now() else {
            return;
        };
        let used = cpu.saturating_sub(last_cpu);
        last_cpu = cpu;
        let Some(free) = glibc_malloc::free_bytes() else {
            return;
        };
        if rule.tick(used, free) == Decision::Trim {
            glibc_malloc::trim();
            let after = glibc_malloc::free_bytes().unwrap_or(0);
            rule.trimmed(after);
            tracing::debug!(
                free_before = free,
                free_after = after,
                "gave free memory back"
            );
            // The trim's own CPU is not the next tick's load.
            let Some(cpu) = cpu_now() else {
                return;
            };
            last_cpu = cpu;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;
    const IDLE: Duration = Duration::from_millis(3);
    const BUSY: Duration = Duration::from_millis(400);

    #[test]
    fn the_first_idle_tick_does_not_trim_before_anything_was_freed() {
        // The free bytes of start-up alone are the floor, not something to give back.
        let mut rule = Rule::new();
        assert_eq!(rule.tick(IDLE, 5 * MIB), Decision::Wait);
        assert_eq!(rule.tick(IDLE, 5 * MIB), Decision::Wait);
    }

    #[test]
    fn an_idle_process_trims_once_a_burst_freed_memory() {
        let mut rule = Rule::new();
        assert_eq!(rule.tick(IDLE, 2 * MIB), Decision::Wait);
        // The burst: busy ticks never trim, however much is free.
        assert_eq!(rule.tick(BUSY, MIB), Decision::Wait);
        assert_eq!(rule.tick(BUSY, 12 * MIB), Decision::Wait);
        assert_eq!(rule.tick(IDLE_CPU, 12 * MIB), Decision::Wait);
        // Quiet again, with 11 MiB more free than at the floor.
        assert_eq!(rule.tick(IDLE, 12 * MIB), Decision::Trim);
    }

    #[test]
    fn an_idle_process_does_not_trim_again_for_what_the_last_trim_left() {
        // What a trim cannot give back (partly used pages) stays counted as free: without new
        // free memory, idle ticks do not trim again and again.
        let mut rule = Rule::new();
        rule.tick(IDLE, 0);
        assert_eq!(rule.tick(IDLE, 12 * MIB), Decision::Trim);
        rule.trimmed(3 * MIB);
        assert_eq!(rule.tick(IDLE, 3 * MIB), Decision::Wait);
        assert_eq!(rule.tick(IDLE, 3 * MIB + MIB / 2), Decision::Wait);
        // Connections closing later free another MiB: one more trim.
        assert_eq!(rule.tick(IDLE, 4 * MIB), Decision::Trim);
    }

    #[test]
    fn memory_reused_by_requests_lowers_the_floor() {
        // After a trim left 3 MiB, requests reuse it (1 MiB free), then free 2.5 MiB: that is
        // new free memory although it is less than 3 + 1 MiB.
        let mut rule = Rule::new();
        rule.tick(IDLE, 0);
        rule.trimmed(3 * MIB);
        assert_eq!(rule.tick(BUSY, MIB), Decision::Wait);
        assert_eq!(rule.tick(IDLE, 3 * MIB + MIB / 2), Decision::Trim);
    }
}
