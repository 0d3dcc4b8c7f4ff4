//! The write queue's rows: paused at the high mark, the writable wake-up, full duplex,
//! what is pulled while paused.

use super::*;

#[test]
fn a_full_write_queue_stops_reading_and_feeding_a_request_response_exchange_until_the_low_mark() {
    let (mut h, fx) = server(
        Plan {
            reply_size: Some(10),
            ..LINES
        },
        marks(8, 16),
    );
    h.feed(b"a\nb\nc\n").unwrap();
    // a: 10 queued; b: 20, at the high mark: paused before c.
    assert_eq!(h.queued_output(), 20);
    assert!(h.engine().out.is_paused());
    assert!(!h.is_reading());
    assert!(!fx.log.has("line:c"));
    assert_eq!(h.unparsed(), b"c\n");
    h.feed(b"d\n").unwrap();
    assert_eq!(h.pending_input(), 2, "not read while paused");

    // The peer reads slowly: 10 left is still above the low mark.
    assert_eq!(h.take_output_upto(10).len(), 10);
    assert!(h.engine().out.is_paused());
    assert!(!fx.log.has("line:c"));
    // 8 left: at the low mark, writing resumes and c is fed (and pauses again).
    h.take_output_upto(2);
    assert!(fx.log.has("line:c"));
    assert!(!fx.log.has("line:d"));
    assert_eq!(h.pending_input(), 2);
    h.take_output();
    assert!(fx.log.has("line:d"));
    assert_eq!(h.pending_input(), 0);
}

/// Writes a 64-byte body in 4-byte pieces, stopping whenever writing is paused.
struct Body {
    left: usize,
    calls: Arc<Mutex<usize>>,
}

impl ProtocolConsumer for Body {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        *self.calls.lock().unwrap() += 1;
        buf.clear();
        while self.left > 0 && !cx.is_write_paused() {
            cx.write(b"0123")?;
            self.left -= 4;
        }
        Ok(if self.left == 0 {
            Progress::Finished(())
        } else {
            Progress::NeedMore
        })
    }
}

#[test]
fn a_consumer_that_stopped_at_the_high_mark_is_called_again_when_the_queue_drains() {
    let calls = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&calls);
    let factory = move || Body {
        left: 64,
        calls: Arc::clone(&counted),
    };
    let mut h = ConsumerHarness::server_with(factory, marks(8, 16));
    h.feed(b"go\n").unwrap();
    assert_eq!(h.queued_output(), 16);
    let mut body = Vec::new();
    while body.len() < 64 {
        // The consumer stops at the first piece that reaches the high mark.
        assert!(h.queued_output() < 16 + 4, "{}", h.queued_output());
        // A slow reader: 5 bytes at a time, no new input.
        body.extend_from_slice(&h.take_output_upto(5));
    }
    assert_eq!(body, b"0123".repeat(16));
    assert_eq!(h.finished(), 1);
    assert!(*calls.lock().unwrap() > 1, "called again without input");
}

#[test]
fn a_full_duplex_exchange_keeps_reading_and_feeding_while_its_output_is_paused() {
    let (mut h, fx) = server(
        Plan {
            full_duplex: true,
            reply_size: Some(10),
            ..LINES
        },
        marks(8, 16),
    );
    h.feed(b"a\nb\nc\n").unwrap();
    assert_eq!(h.queued_output(), 30);
    assert!(h.engine().out.is_paused());
    assert!(h.is_reading());
    h.feed(b"d\n").unwrap();
    assert_eq!(h.pending_input(), 0);
    assert!(fx.log.has("line:d"));
    assert_eq!(h.queued_output(), 40);
}

#[test]
fn a_body_stream_is_pulled_only_below_the_high_mark_even_while_writing_is_still_paused() {
    let (mut h, _) = server(
        Plan {
            stream: Some(&[10, 10, 10]),
            ..LINES
        },
        marks(8, 16),
    );
    h.feed(b"s\n").unwrap();
    // 10, then 20: at the high mark the third chunk is not pulled.
    assert_eq!(h.queued_output(), 20);
    assert!(h.engine().out.is_paused());
    // 14 left: below the high mark, above the low one. Still paused for consumers, but
    // the stream is pulled again.
    h.take_output_upto(6);
    assert!(h.engine().out.is_paused());
    assert_eq!(h.queued_output(), 24);
}

#[test]
fn a_finished_async_answer_moves_to_the_queue_even_above_the_high_mark() {
    let (mut h, fx) = server(
        Plan {
            reply_size: Some(20),
            async_reply: true,
            ..LINES
        },
        marks(8, 16),
    );
    h.feed(b"x\n").unwrap();
    assert_eq!(h.queued_output(), 20);
    fx.answer("done\n");
    h.step().unwrap();
    assert_eq!(h.queued_output(), 25);
}
