//! Fixes glibc's mmap threshold for `quasar serve`, so that freed read buffers go back to
//! the kernel and the memory budget bounds RSS, not only the bytes the server counts.
//!
//! glibc serves an allocation of 128 KiB or more with its own `mmap` and returns it with
//! `munmap` on free, but the first time such a block is freed it raises the threshold to
//! that block's size (up to 32 MiB). From then on the read buffers of large unfinished
//! requests come from the heap arenas: freed, they stay resident, and a buffer grown by
//! doubling in recycled heap memory is resident in full, spare half included.
//! docs/overload.md ("The allocator's slack") has the measurement.
//!
//! Setting the threshold explicitly turns the raise off. [`fix_mmap_threshold`] does it
//! with `mallopt(M_MMAP_THRESHOLD, 131072)` (glibc's own starting value, kept fixed),
//! first thing in `main`, unless the operator fixed it already with
//! `MALLOC_MMAP_THRESHOLD_` or a `glibc.malloc.mmap_threshold` tunable, which glibc read
//! before `main`. Other platforms are left alone (musl, macOS: their allocators do not
//! raise a threshold).
//!
//! # Examples
//!
//! ```ignore
//! // First thing in `main`, before any thread starts.
//! malloc::fix_mmap_threshold();
//! ```

/// The environment variable glibc reads a fixed threshold from.
pub(crate) const VAR: &str = "MALLOC_MMAP_THRESHOLD_";

/// The threshold: glibc's own starting value, kept fixed. Small messages never reach it
/// (read chunks are 16 KiB), so the hot path makes no extra `mmap`.
pub(crate) const THRESHOLD: i32 = 128 * 1024;

/// Whether the environment already fixes the threshold (the operator's choice, kept).
fn is_fixed(var: Option<std::ffi::OsString>, tunables: Option<std::ffi::OsString>) -> bool {
    var.is_some() || tunables.is_some_and(|t| t.to_string_lossy().contains("malloc.mmap_threshold"))
}

/// Fixes glibc's mmap threshold at [`THRESHOLD`] unless the environment fixed it; does
/// nothing off glibc. Call it before any thread starts.
pub(crate) fn fix_mmap_threshold() {
    if is_fixed(std::env::var_os(VAR), std::env::var_os("GLIBC_TUNABLES")) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` takes two integers and no pointers; M_MMAP_THRESHOLD with a
        // value under HEAP_MAX_SIZE/2 only stores the threshold and turns the dynamic
        // raise off, under glibc's own arena lock. It is called from `main` before any
        // thread starts, so no allocation races it; memory already allocated is freed by
        // the path it was allocated with, whatever the threshold is now.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
        if ok != 1 {
            // Logging is not set up yet.
            eprintln!("quasar: mallopt(M_MMAP_THRESHOLD) failed; the allocator keeps its defaults");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_threshold_or_tunable_is_kept() {
        assert!(!is_fixed(None, None));
        assert!(!is_fixed(None, Some("glibc.malloc.arena_max=2".into())));
        assert!(is_fixed(Some("65536".into()), None));
        assert!(is_fixed(
            None,
            Some("glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096".into())
        ));
    }

    /// Set in the child process that runs the allocator check: `tuned` or `untuned`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    const CHILD: &str = "QUASAR_MALLOC_TEST_CHILD";

    /// Whether a 1 MiB block allocated after a 1 MiB block was freed is its own mapping.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn reallocated_block_is_mapped() -> bool {
        const BIG: usize = 1 << 20;
        // The first free of a mapped block is what raises an unfixed threshold.
        drop(std::hint::black_box(Vec::<u8>::with_capacity(BIG)));
        // SAFETY: `mallinfo2` reads glibc's counters and takes no arguments.
        #[allow(unsafe_code)]
        let before = unsafe { libc::mallinfo2() }.hblkhd;
        let block = std::hint::black_box(Vec::<u8>::with_capacity(BIG));
        // SAFETY: as above.
        #[allow(unsafe_code)]
        let during = unsafe { libc::mallinfo2() }.hblkhd;
        drop(block);
        during >= before + BIG
    }

    /// Runs in a child process of its own (the allocator is shared by every test of
    /// this one): tuned, the block stays a mapping; untuned, glibc's raise puts it on the
    /// heap, which shows the check can tell them apart.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_fixed_threshold_keeps_large_blocks_out_of_the_heap() {
        const NAME: &str = "malloc::tests::a_fixed_threshold_keeps_large_blocks_out_of_the_heap";
        match std::env::var(CHILD).as_deref() {
            Ok("tuned") => {
                fix_mmap_threshold();
                println!("mapped={}", reallocated_block_is_mapped());
                return;
            }
            Ok(_) => {
                println!("mapped={}", reallocated_block_is_mapped());
                return;
            }
            Err(_) => {}
        }
        for (mode, expected) in [("tuned", true), ("untuned", false)] {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([NAME, "--exact", "--test-threads=1", "--nocapture"])
                .env(CHILD, mode)
                .env_remove(VAR)
                .env_remove("GLIBC_TUNABLES")
                .output()
                .expect("the test binary runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{mode}: {stdout}");
            assert!(
                stdout.contains(&format!("mapped={expected}")),
                "{mode}: {stdout}"
            );
        }
    }
}
