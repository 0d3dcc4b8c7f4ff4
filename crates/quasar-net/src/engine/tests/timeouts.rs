//! The timers in virtual time: idle, request, ticks, drains of idle connections, and the
//! progress rules (receive rate, send rate, write stall).

use super::*;

#[test]
fn the_idle_timeout_fires_only_when_nothing_is_in_flight() {
    let (mut h, fx) = server(LINES, with(no_timeouts(), |c| c.keep_alive(secs(10))));
    h.feed(b"hal").unwrap();
    // A request half-read is in flight: checks every 10 s, and nothing fires.
    while h.elapsed() < secs(30) {
        h.jump_to_next_deadline().unwrap();
    }
    h.feed(b"f\n").unwrap();
    // Its answer is owed until the peer takes it: still in flight.
    h.jump_to_next_deadline().unwrap();
    assert_eq!(h.elapsed(), secs(40));
    assert_eq!(&h.take_output()[..], b"half!\n");
    // Nothing in flight since 40 s: idle 10 s later.
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_idle_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(50));
    assert!(h.close_reason().unwrap().is_idle_timeout());
    assert_eq!(fx.log.entries(), ["made", "line:half"]);
}

#[test]
fn the_request_timeout_runs_from_the_first_byte_not_from_accept() {
    let (mut h, fx) = server(LINES, with(no_timeouts(), |c| c.request_timeout(secs(30))));
    // An idle connection is not timed by the request timeout.
    h.advance(secs(20)).unwrap();
    h.feed(b"par").unwrap();
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_request_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(50));
    assert!(fx.log.has("lost:request-timeout"));
}

#[test]
fn the_request_timeout_covers_an_answer_the_peer_does_not_take() {
    let (mut h, _) = server(LINES, with(no_timeouts(), |c| c.request_timeout(secs(30))));
    h.feed(b"a\n").unwrap();
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_request_timeout(), "{err}");
    assert_eq!(h.elapsed(), secs(30));
    // Closed gracefully: what was queued is still written.
    assert_eq!(&h.take_output()[..], b"a!\n");
}

#[test]
fn a_long_lived_exchange_is_exempt_from_the_request_timeout_and_gets_shutdown_on_a_drain() {
    let (mut h, fx) = server(
        Plan {
            long_lived: true,
            ..LINES
        },
        with(no_timeouts(), |c| c.request_timeout(secs(5))),
    );
    h.feed(b"a\n").unwrap();
    h.advance(secs(60)).unwrap();
    h.feed(b"b\n").unwrap();
    assert_eq!(&h.take_output()[..], b"a!\nb!\n");
    assert!(h.drain().unwrap(), "busy: its exchange started");
    assert_eq!(
        fx.log.entries(),
        ["made", "line:a", "line:b", "shutdown", "lost:none"]
    );
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
}

#[test]
fn ticks_fire_at_each_period_as_virtual_time_passes() {
    let (mut h, fx) = server(
        Plan {
            long_lived: true,
            tick: Some(secs(5)),
            ..LINES
        },
        no_timeouts(),
    );
    assert_eq!(h.next_deadline(), Some(secs(5)));
    h.advance(secs(16)).unwrap();
    assert_eq!(fx.log.count("tick"), 3);
    assert_eq!(h.next_deadline(), Some(secs(4)));
}

#[test]
fn a_connection_that_never_sent_a_byte_closes_at_once_on_a_drain() {
    let (mut h, fx) = server(LINES, no_timeouts());
    assert!(!h.drain().unwrap(), "idle");
    assert!(h.is_done());
    assert!(h.close_reason().is_none());
    assert_eq!(fx.log.entries(), ["made"]);
}

#[test]
fn a_connection_idle_between_exchanges_closes_at_once_on_a_drain() {
    let (mut h, _) = server(LINES, no_timeouts());
    h.feed(b"a\n").unwrap();
    h.take_output();
    assert!(!h.drain().unwrap());
    assert!(h.is_done());
}

#[test]
fn a_greeted_connection_that_never_spoke_closes_once_its_greeting_is_written_after_a_drain() {
    let (mut h, _) = server(
        Plan {
            greeting: Some("welcome\n"),
            ..LINES
        },
        no_timeouts(),
    );
    h.drain().unwrap();
    assert_eq!(&h.take_output()[..], b"welcome\n");
    assert!(h.is_done(), "{h:?}");
}

#[test]
fn a_half_sent_line_is_closed_by_the_minimum_receive_rate_after_its_window() {
    // The defaults: 1 KiB per 10 s.
    let (mut h, fx) = server(LINES, ConnectionConfig::default());
    h.advance(secs(1)).unwrap();
    h.feed(b"GET / HT").unwrap();
    // The check at 10 s opens a window on the request being received; at 20 s it has
    // moved 0 bytes of the 1024 due.
    h.jump_to_next_deadline().unwrap();
    assert_eq!(h.elapsed(), secs(10));
    let err = h.jump_to_next_deadline().unwrap_err();
    assert!(err.is_receive_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(20));
    assert!(fx.log.has("lost:receive-too-slow"));
}

#[test]
fn a_slow_but_steady_sender_above_the_minimum_rate_stays_open() {
    let (mut h, _) = server(LINES, ConnectionConfig::default());
    // 200 bytes a second of one long line: twice the minimum.
    for _ in 0..60 {
        h.feed(&[b'x'; 200]).unwrap();
        h.advance(secs(1)).unwrap();
    }
    assert!(!h.is_closed());
    // Then nothing: closed within two windows.
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_receive_too_slow(), "{err}");
    assert!(h.elapsed() <= secs(80), "{:?}", h.elapsed());
}

/// A 100-byte answer waiting for the peer from 0 s, under a 20 s write stall.
fn an_answer_waiting_under_a_write_stall() -> ConsumerHarness<impl ConsumerFactory> {
    let plan = Plan {
        reply_size: Some(100),
        ..LINES
    };
    let config = with(no_timeouts(), |c| c.write_stall_timeout(secs(20)));
    let (mut h, _) = server(plan, config);
    h.feed(b"a\n").unwrap();
    h
}

#[test]
fn a_peer_that_stops_reading_is_closed_after_the_write_stall_timeout() {
    let mut h = an_answer_waiting_under_a_write_stall();
    // The answer waits from 0 s and the peer takes none of it: closed at 20 s, not
    // before.
    h.advance(secs(19)).unwrap();
    assert!(!h.is_closed());
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_send_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(20));
}

#[test]
fn a_stalled_peer_is_closed_within_the_write_stall_timeout_of_its_last_byte() {
    let mut h = an_answer_waiting_under_a_write_stall();
    h.advance(secs(15)).unwrap();
    // The peer takes a few bytes at 15 s, then nothing: closed 20 s after that byte.
    h.take_output_upto(10);
    let err = run_until_closed(&mut h, secs(120));
    assert!(err.is_send_too_slow(), "{err}");
    assert_eq!(h.elapsed(), secs(35));
}

#[test]
fn a_dribbling_reader_is_closed_by_the_minimum_send_rate() {
    let (mut h, _) = server(
        Plan {
            reply_size: Some(10_000),
            ..LINES
        },
        with(no_timeouts(), |c| {
            c.min_send_rate(MinRate::new(1000, secs(10)))
        }),
    );
    h.feed(b"a\n").unwrap();
    // 50 bytes a second: half the minimum, but never stalled.
    let mut err = None;
    for _ in 0..60 {
        h.take_output_upto(50);
        if let Err(e) = h.advance(secs(1)) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("closed");
    assert!(err.is_send_too_slow(), "{err}");
    assert!(h.elapsed() <= secs(30), "{:?}", h.elapsed());
}
