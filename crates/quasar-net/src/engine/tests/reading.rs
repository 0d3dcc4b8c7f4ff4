//! Rows of the `Reading` state: open, paused by the consumer, after the peer's EOF.

use super::*;

#[test]
fn reading_is_open_from_accept_and_each_line_gets_its_answer_from_a_fresh_consumer() {
    let (mut h, fx) = server(LINES, no_timeouts());
    assert_eq!(h.engine().state.reading, Reading::Open);
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Open);
    assert!(h.is_reading());
    h.feed(b"one\ntw").unwrap();
    assert_eq!(&h.take_output()[..], b"one!\n");
    h.feed(b"o\n").unwrap();
    assert_eq!(&h.take_output()[..], b"two!\n");
    assert_eq!(fx.log.entries(), ["made", "line:one", "made", "line:two"]);
    assert!(!h.is_closed());
}

#[test]
fn a_consumer_that_pauses_reading_is_not_fed_and_the_peers_bytes_wait_until_resume_reading() {
    let (mut h, fx) = server(
        Plan {
            pause_after_each_line: true,
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"a\nb\n").unwrap();
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    assert!(!h.is_reading());
    // Read with the first line, not fed; what the peer sends next is not even read.
    assert_eq!(h.unparsed(), b"b\n");
    h.feed(b"c\n").unwrap();
    assert_eq!(h.pending_input(), 2);
    assert_eq!(fx.log.entries(), ["made", "line:a"]);

    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(fx.log.entries(), ["made", "line:a", "made", "line:b"]);
    assert_eq!(h.pending_input(), 2, "paused again after b");
    h.connection().resume_reading();
    h.step().unwrap();
    assert!(fx.log.has("line:c"));
    assert_eq!(&h.take_output()[..], b"a!\nb!\nc!\n");
}

#[test]
fn responses_are_still_pulled_while_a_consumer_paused_reading() {
    let (mut h, fx) = server(
        Plan {
            pause_after_each_line: true,
            async_reply: true,
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"a\n").unwrap();
    assert!(h.take_output().is_empty());
    fx.answer("A\n");
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"A\n");
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
}

#[test]
fn after_the_peers_eof_reading_never_resumes() {
    let (mut h, fx) = server(LINES, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.feed_eof().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(h.engine().state.reading, Reading::Eof);
    assert!(!h.is_reading());
    assert!(h.connection().is_read_closed());
    // A request/response connection closes once its answers are out.
    assert!(h.is_closed() && !h.is_done());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(fx.log.entries(), ["made", "line:a"]);
}
