//! What `/proc` says about the server process: CPU time and resident memory.
//!
//! CPU time is `utime + stime` from `/proc/PID/stat` (all threads of the process, in clock ticks
//! of `sysconf(_SC_CLK_TCK)`, usually 10 ms), so a figure over a few seconds of load is good to
//! about a percent. Resident memory is `VmRSS` from `/proc/PID/status`, in KiB.

use std::fs;
use std::io;

/// CPU time the process has used so far, in seconds.
///
/// # Errors
///
/// The process does not exist or its `stat` line cannot be read.
pub(crate) fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// Resident set size of the process, in KiB.
///
/// # Errors
///
/// The process does not exist or reports no `VmRSS` (a zombie).
pub(crate) fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

/// Raises this process's open-file limit to its hard limit and returns the new soft limit.
pub(crate) fn raise_open_file_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_command_name_with_spaces() {
        let stat = "1234 (my (odd) srv) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 70 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(320));
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tserver\nVmPeak:\t  9000 kB\nVmRSS:\t  4321 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(rss_kib(pid).unwrap() > 0);
    }
}
