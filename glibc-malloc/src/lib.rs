//! Safe wrappers over the glibc malloc controls that decide how much freed memory a process
//! keeps: `mallopt` (arena count, mmap and trim thresholds), `malloc_trim` and `mallinfo2`, and
//! the process's CPU clock (to tell when it is idle).
//!
//! Why: glibc keeps memory a program frees. Each thread that allocates under contention gets
//! its own arena (up to 8 per core), every arena keeps its freed chunks for reuse, and only the
//! top of the main heap is returned on its own. After a burst (200 TLS connections, their
//! buffers, the rendered pages) a server's resident memory stays at the burst's level although
//! nothing holds it. [`limit_arenas`] and [`set_fixed_thresholds`] make less of it stick;
//! [`trim`] gives back what is free ([`malloc_trim(0)`](https://man7.org/linux/man-pages/man3/malloc_trim.3.html)
//! releases every whole free page of every arena with `madvise(MADV_DONTNEED)`).
//!
//! On other targets (musl, macOS, Windows) every function is a no-op that reports so
//! (`false` / `None`): their allocators have their own policies.
//!
//! This is the one crate of the workspace that contains `unsafe` (one block per FFI call, each
//! with its `// SAFETY:` comment); the calls take plain integers or return plain structs, so
//! the wrappers are safe to call from any thread at any time.

use std::time::Duration;

/// Whether this build controls glibc's allocator (Linux with glibc); when `false`, every other
/// function does nothing.
pub const SUPPORTED: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Caps the number of malloc arenas at `arenas` (`M_ARENA_MAX`, at least 1). Call it at the
/// start of `main`, before other threads allocate: arenas already created stay. `true` when
/// glibc accepted it.
pub fn limit_arenas(arenas: usize) -> bool {
    let arenas = i32::try_from(arenas.max(1)).unwrap_or(i32::MAX);
    mallopt(sys::M_ARENA_MAX, arenas)
}

/// Fixes the mmap threshold (allocations of at least `mmap_bytes` get their own mapping,
/// returned to the system when freed) and the trim threshold (free memory above `trim_bytes` at
/// the top of the main heap is returned on `free`). Setting them turns off glibc's dynamic
/// threshold, which otherwise raises the mmap threshold to the size of every large block freed
/// (up to 32 MiB), so that later large buffers stay in the heap for good. `true` when glibc
/// accepted both.
pub fn set_fixed_thresholds(mmap_bytes: usize, trim_bytes: usize) -> bool {
    let mmap = i32::try_from(mmap_bytes).unwrap_or(i32::MAX);
    let trim = i32::try_from(trim_bytes).unwrap_or(i32::MAX);
    mallopt(sys::M_MMAP_THRESHOLD, mmap) & mallopt(sys::M_TRIM_THRESHOLD, trim)
}

/// Returns the whole free pages of every arena to the system (`malloc_trim(0)`). Takes each
/// arena's lock in turn while it walks its free chunks (well under a millisecond for a heap
/// of tens of MB). `true` when some memory was released.
pub fn trim() -> bool {
    sys::trim()
}

/// Bytes in free chunks the allocator holds (`mallinfo2().fordblks`): what [`trim`] could give
/// back at most. `None` on other targets.
pub fn free_bytes() -> Option<usize> {
    sys::free_bytes()
}

/// CPU time used by the whole process so far, all threads, user and system
/// (`CLOCK_PROCESS_CPUTIME_ID`). `None` on other targets or if the clock fails.
pub fn process_cpu_time() -> Option<Duration> {
    sys::process_cpu_time()
}

fn mallopt(param: i32, value: i32) -> bool {
    sys::mallopt(param, value)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    use std::time::Duration;

    pub const M_ARENA_MAX: i32 = libc::M_ARENA_MAX;
    pub const M_MMAP_THRESHOLD: i32 = libc::M_MMAP_THRESHOLD;
    pub const M_TRIM_THRESHOLD: i32 = libc::M_TRIM_THRESHOLD;

    #[allow(unsafe_code)]
    pub fn mallopt(param: i32, value: i32) -> bool {
        // SAFETY: `mallopt` takes two integers, touches only the allocator's own parameters
        // under its lock and reports a refused value by returning 0; no pointer crosses.
        unsafe { libc::mallopt(param, value) == 1 }
    }

    #[allow(unsafe_code)]
    pub fn trim() -> bool {
        // SAFETY: `malloc_trim` takes an integer (the padding to keep: none) and only releases
        // pages inside free chunks, under each arena's lock; memory in use is never touched, so
        // no Rust allocation is affected.
        unsafe { libc::malloc_trim(0) == 1 }
    }

    #[allow(unsafe_code)]
    pub fn free_bytes() -> Option<usize> {
        // SAFETY: `mallinfo2` (glibc >= 2.33) takes no argument and returns a plain struct of
        // integers by value, read under the arenas' locks.
        let info = unsafe { libc::mallinfo2() };
        Some(info.fordblks)
    }

    #[allow(unsafe_code)]
    pub fn process_cpu_time() -> Option<Duration> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable `timespec` that lives across the call; the
        // function writes only into it and reports a failure with a non-zero return.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
        if rc != 0 {
            return None;
        }
        let secs = u64::try_from(now.tv_sec).ok()?;
        let nanos = u32::try_from(now.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    use std::time::Duration;

    pub const M_ARENA_MAX: i32 = 0;
    pub const M_MMAP_THRESHOLD: i32 = 0;
    pub const M_TRIM_THRESHOLD: i32 = 0;

    pub fn mallopt(_param: i32, _value: i32) -> bool {
        false
    }

    pub fn trim() -> bool {
        false
    }

    pub fn free_bytes() -> Option<usize> {
        None
    }

    pub fn process_cpu_time() -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_cpu_clock_advances_with_work() {
        if !SUPPORTED {
            assert_eq!(process_cpu_time(), None);
            return;
        }
        let before = process_cpu_time().expect("the clock works");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = process_cpu_time().expect("the clock works");
        assert!(after > before, "{before:?} then {after:?}");
    }

    #[test]
    fn freed_memory_is_counted_as_free_and_trimming_gives_pages_back() {
        if !SUPPORTED {
            assert_eq!(free_bytes(), None);
            assert!(!trim());
            return;
        }
        // Blocks of 64 KiB (below the mmap threshold: they live in the heap), every other one
        // freed so that the free space cannot simply shrink the heap's top: 4 MiB free in the
        // middle of the heap, each chunk spanning whole pages.
        let mut blocks: Vec<Vec<u8>> = (0..128).map(|_| vec![1u8; 64 * 1024]).collect();
        let before = free_bytes().expect("glibc");
        for block in blocks.iter_mut().step_by(2) {
            *block = Vec::new();
        }
        let freed = free_bytes().expect("glibc");
        assert!(
            freed >= before + 4 * 1024 * 1024 - 64 * 1024,
            "free bytes {before} then {freed} after freeing 4 MiB"
        );
        assert!(trim(), "whole free pages were given back");
        drop(blocks);
    }

    #[test]
    fn the_controls_are_accepted() {
        assert_eq!(limit_arenas(2), SUPPORTED);
        assert_eq!(set_fixed_thresholds(128 * 1024, 128 * 1024), SUPPORTED);
    }
}
