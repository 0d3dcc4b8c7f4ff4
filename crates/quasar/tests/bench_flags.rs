//! `quasar bench` rejects bad flags with exit status 2 before opening any connection.

mod common;

use common::{bench, describe};

fn assert_bad_flags(args: &[&str]) {
    let out = bench(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", describe(&out));
}

#[test]
fn unknown_and_malformed_flags_exit_two() {
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--no-such-flag"]);
    assert_bad_flags(&["echo"]);
    assert_bad_flags(&["gopher", "--addr", "127.0.0.1:1"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--connections", "0"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--duration", "soon"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--rate", "-3"]);
}

#[test]
fn a_request_budget_must_be_a_whole_number_of_at_least_one() {
    for bad in ["0", "-1", "1.5", "ten", ""] {
        let flag = format!("--requests={bad}");
        let out = bench(&["echo", "--addr", "127.0.0.1:1", &flag]);
        assert_eq!(out.status.code(), Some(2), "{flag}\n{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--requests") && err.contains("at least 1"),
            "{flag}\n{}",
            describe(&out)
        );
    }
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "-n", "0"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "-n", "-1"]);
    // Memory mode holds idle connections for --duration; it sends no requests to count.
    assert_bad_flags(&[
        "echo",
        "--addr",
        "127.0.0.1:1",
        "--idle-connections",
        "2",
        "-n",
        "5",
    ]);
}

#[test]
fn flags_that_do_not_fit_together_exit_two() {
    assert_bad_flags(&["udp", "--addr", "127.0.0.1:1", "--raw"]);
    assert_bad_flags(&["udp", "--addr", "127.0.0.1:1", "--size", "8"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--size", "4"]);
    assert_bad_flags(&["echo", "--addr", "not an address"]);
    assert_bad_flags(&["echo", "--addr", "127.0.0.1:1", "--server-pid", "999999999"]);
}

#[test]
fn resp_is_not_implemented_yet() {
    let out = bench(&["resp", "--addr", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
}
