//! Fixes glibc's mmap threshold for `quasar serve`, so that freed read buffers go back to
//! the kernel and the memory budget bounds RSS, not only the bytes the server counts.
//!
//! glibc serves an allocation of 128 KiB or more with its own `mmap` and returns it with
//! `munmap` on free — but the first time such a block is freed it raises the threshold
//! to that block's size (up to 32 MiB). From then on the read buffers of large unfinished
//! requests (1 MiB each under the issue's attack) come from the heap arenas: freed, they
//! stay resident, and a buffer grown by doubling in recycled heap memory is resident in
//! full, spare half included. Measured under 3,000 connections x 1 MiB (docs/overload.md,
//! "Memory budget"): the budget's count stayed at 512 MiB while RSS peaked at 575-708 MiB
//! and stayed at 120-480 MiB after the attack; with the threshold fixed at 128 KiB RSS
//! peaked at 551-556 MiB and fell to ~30 MiB.
//!
//! Setting the threshold explicitly (`MALLOC_MMAP_THRESHOLD_`, read by glibc when it
//! starts) turns the raise off. glibc reads it before `main`, and calling `mallopt`
//! needs `unsafe`, which this crate forbids; so `quasar serve` re-executes itself once
//! with the variable set, before any thread starts. An operator's own
//! `MALLOC_MMAP_THRESHOLD_` (or a `glibc.malloc.mmap_threshold` tunable) is left alone,
//! and so is every other platform (musl, macOS: their allocators do not raise a
//! threshold).
//!
//! # Examples
//!
//! ```ignore
//! // First thing in `quasar serve`: returns only when no re-exec was needed or possible.
//! malloc_tune::apply();
//! ```

/// The environment variable glibc reads the fixed threshold from.
pub(crate) const VAR: &str = "MALLOC_MMAP_THRESHOLD_";

/// The threshold: glibc's own starting value, kept fixed. Small messages never reach it
/// (read chunks are 16 KiB), so the hot path makes no extra `mmap`.
pub(crate) const THRESHOLD: &str = "131072";

/// Whether the environment already fixes the threshold (ours from the re-exec, or the
/// operator's).
fn is_fixed(var: Option<std::ffi::OsString>, tunables: Option<std::ffi::OsString>) -> bool {
    var.is_some() || tunables.is_some_and(|t| t.to_string_lossy().contains("malloc.mmap_threshold"))
}

/// Re-executes this process with [`VAR`] set unless the threshold is already fixed.
/// Returns (leaving the process as it is) when it is, off glibc, or when the exec fails.
pub(crate) fn apply() {
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || is_fixed(std::env::var_os(VAR), std::env::var_os("GLIBC_TUNABLES"))
    {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        // `exec` returns only on failure (the binary was replaced or removed since it
        // started, say): serving untuned beats not serving.
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VAR, THRESHOLD)
            .exec();
        // Logging is not set up yet.
        eprintln!("quasar: re-exec with {VAR} failed ({err}); the allocator keeps its defaults");
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
}
