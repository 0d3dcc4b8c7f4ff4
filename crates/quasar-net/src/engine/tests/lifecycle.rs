//! Rows of the `Lifecycle` state: drains, the last session, closing, `max_requests`, and
//! speaking first.

use super::*;

#[test]
fn a_drain_during_an_exchange_serves_it_then_closes_and_drops_what_follows() {
    let (mut h, fx) = server(LINES, no_timeouts());
    h.feed(b"hal").unwrap();
    assert!(h.drain().unwrap(), "busy: a request started");
    assert_eq!(h.engine().state.lifecycle, Lifecycle::CloseAfterExchange);
    assert!(h.is_reading(), "the exchange in flight is still read");
    h.feed(b"f\nnext\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!fx.log.has("line:next"));
    assert_eq!(&h.take_output()[..], b"half!\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn the_servers_last_session_serves_one_exchange_then_closes() {
    let (mut h, fx) = server(LINES, no_timeouts());
    h.engine_mut().close_after_exchange();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::CloseAfterExchange);
    h.feed(b"a\nb\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());
    assert!(!fx.log.has("line:b"));
}

#[test]
fn closing_stops_reading_and_feeding_but_still_pulls_and_writes_what_is_owed() {
    let (mut h, fx) = server(
        Plan {
            async_reply: true,
            close_on: Some("quit"),
            ..LINES
        },
        no_timeouts(),
    );
    h.feed(b"slow\nquit\nignored\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(h.is_closed() && !h.is_reading());
    assert!(!fx.log.has("line:ignored"));
    assert!(h.feed(b"more\n").unwrap_err().is_closed());
    fx.answer("SLOW\n");
    fx.answer("bye\n");
    h.step().unwrap();
    assert!(
        !h.is_done(),
        "the answers are owed until the peer takes them"
    );
    assert_eq!(&h.take_output()[..], b"SLOW\nbye\n");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn a_close_asked_through_the_handle_waits_for_the_output_and_an_abort_does_not() {
    let (mut h, _) = server(LINES, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.connection().begin_close();
    h.step().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert!(!h.is_done());
    assert_eq!(&h.take_output()[..], b"a!\n");
    assert!(h.is_done());

    let (mut h, _) = server(LINES, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.connection().abort();
    assert!(h.step().unwrap_err().is_closed());
    assert!(h.is_done());
    assert!(h.close_reason().unwrap().is_closed());
}

#[test]
fn max_requests_closes_after_the_last_answer() {
    let (mut h, fx) = server(LINES, with(no_timeouts(), |c| c.max_requests(2)));
    h.feed(b"a\nb\nc\n").unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    assert_eq!(&h.take_output()[..], b"a!\nb!\n");
    assert!(h.is_done());
    assert!(!fx.log.has("line:c"));
}

// Speak first: a server writes before the peer does.

#[test]
fn a_server_speaks_first_from_connection_made_before_any_input() {
    let (mut h, fx) = server(
        Plan {
            greeting: Some("welcome\n"),
            ..LINES
        },
        no_timeouts(),
    );
    assert_eq!(&h.take_output()[..], b"welcome\n");
    assert_eq!(fx.log.entries(), ["made"]);
    h.feed(b"hi\n").unwrap();
    assert_eq!(&h.take_output()[..], b"hi!\n");
}

#[test]
fn pause_reading_in_connection_made_holds_back_the_first_bytes_until_resume() {
    let (mut h, fx) = server(
        Plan {
            pause_at_accept: true,
            ..LINES
        },
        no_timeouts(),
    );
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    h.feed(b"hello\n").unwrap();
    assert_eq!(h.pending_input(), 6, "not one byte read");
    assert!(h.unparsed().is_empty());
    assert_eq!(fx.log.entries(), ["made"]);
    h.connection().resume_reading();
    h.step().unwrap();
    assert_eq!(&h.take_output()[..], b"hello!\n");
    assert_eq!(fx.log.entries(), ["made", "line:hello"]);
}
