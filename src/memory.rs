//! How the process uses glibc's malloc. With polars' thread pool, glibc gives
//! threads their own arenas and seldom hands freed memory back to the system, so
//! the peak memory of a run is a good deal more than it uses at once.

/// Two arenas (unless `MALLOC_ARENA_MAX` says otherwise): at 3 M leads the ingest's
/// peak fell from 3.9 to 2.3 GiB, and it ran faster (measured with `bash
/// bench/run.sh 3000000`). A memory setting, not a worker count: more arenas only
/// let threads keep more freed memory. Call it first thing in `main`, before any
/// other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_malloc_arenas() {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    const M_ARENA_MAX: c_int = -8;
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes a malloc tuning parameter; called before any
        // other thread exists.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas() {}

/// Hands the memory freed so far back to the system: between the ingest and the
/// report of `funnel run`, so that the report does not start on top of what the
/// reading, merging and derived tables left free (at 3 M leads the run's peak fell
/// from 1.93–2.12 to 1.73–1.97 GiB over three interleaved pairs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim only releases free memory at the top of the heaps and
    // unused pages inside them; it is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_freed_memory() {}

#[cfg(test)]
mod tests {
    /// Both calls into glibc (the unsafe blocks above) return and leave malloc
    /// working; every run of the binary makes them too.
    #[test]
    fn tuning_malloc_leaves_it_working() {
        super::limit_malloc_arenas();
        let held: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 1 << 16]).collect();
        drop(held);
        super::return_freed_memory();
        let again = vec![7u8; 1 << 20];
        assert_eq!(again.iter().map(|&b| u64::from(b)).sum::<u64>(), 7 << 20);
    }
}
