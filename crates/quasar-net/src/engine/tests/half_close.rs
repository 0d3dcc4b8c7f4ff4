//! Half-close: the peer's EOF against short and long-lived exchanges, and `shutdown_write`.

use super::*;

#[test]
fn a_long_lived_exchange_hears_the_peers_eof_and_writes_on_until_it_shuts_its_side() {
    let (mut h, fx) = server(
        Plan {
            long_lived: true,
            eof_reply: Some("bye\n"),
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Open);
    // Another task writes on after the EOF.
    h.connection().write(&b"later\n"[..]).unwrap();
    h.step().unwrap();
    h.connection().shutdown_write();
    h.step().unwrap();
    assert_eq!(h.engine().state.writing, Writing::ShutdownPending);
    assert!(h.connection().write(&b"no\n"[..]).is_err());
    assert!(!h.is_write_shut(), "the FIN waits for the queue");
    assert_eq!(&h.take_output()[..], b"a!\nbye\nlater\n");
    // Both sides shut: nothing can move, the connection is over.
    assert!(h.is_write_shut());
    assert_eq!(h.engine().state.writing, Writing::Shutdown);
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(
        fx.log.entries(),
        ["made", "line:a", "eof", "lost:none"],
        "told once of the end"
    );
}

#[test]
fn a_long_lived_exchange_closes_on_the_peers_eof_by_default() {
    let (mut h, fx) = server(
        Plan {
            long_lived: true,
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert!(fx.log.has("eof"));
    assert!(h.is_closed());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
}

#[test]
fn a_complete_request_still_gets_its_answer_after_the_peers_eof() {
    let (mut h, fx) = server(
        Plan {
            async_reply: true,
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"ping\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!h.is_done(), "the answer is owed");
    fx.answer("pong\n");
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"pong\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert!(!fx.log.has("eof"), "a short exchange is not asked");
}

#[test]
fn a_request_cut_short_by_the_peers_eof_goes_to_connection_lost() {
    let (mut h, fx) = server(LINES, no_timeouts());
    h.feed(b"pi").unwrap();
    h.feed_eof().unwrap();
    assert!(h.is_done());
    assert_eq!(fx.log.entries(), ["made", "lost:none"]);
}

#[test]
fn every_pipelined_request_sent_before_the_peers_eof_gets_its_answer() {
    let (mut h, _) = server(LINES, no_timeouts());
    h.feed(&b"a\n".repeat(3000)).unwrap();
    h.feed_eof().unwrap();
    let mut out = Vec::new();
    while !h.is_done() && out.len() < 9000 {
        out.extend_from_slice(&h.take_output());
    }
    assert_eq!(out.len(), 3 * 3000, "{} answers", out.len() / 3);
}
