//! A client's calls: taken up to `max_in_flight`, in order, and not past the high mark
//! or a close.

use super::*;

/// A line client: writes each request as a line and takes one line as its reply.
struct ClientLines {
    pause_after_reply: bool,
}

impl ProtocolConsumer for ClientLines {
    type Request = String;
    type Response = String;

    fn start_request(
        &mut self,
        cx: &mut Context<'_, String, String>,
        request: String,
    ) -> Result<()> {
        cx.write(format!("{request}\n").as_bytes())
    }

    fn data_received(
        &mut self,
        cx: &mut Context<'_, String, String>,
        buf: &mut BytesMut,
    ) -> Result<Progress<String>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.advance(end + 1);
        if self.pause_after_reply {
            cx.pause_reading();
        }
        Ok(Progress::Finished(line))
    }
}

fn client(
    config: ConnectionConfig,
    pause_after_reply: bool,
) -> ConsumerHarness<impl ConsumerFactory<Consumer = ClientLines>> {
    ConsumerHarness::new_with(move || ClientLines { pause_after_reply }, config)
}

fn reply(rx: &mut oneshot::Receiver<Result<String>>) -> Option<Result<String>> {
    rx.try_recv().ok()
}

#[test]
fn client_calls_are_taken_up_to_max_in_flight_and_answered_in_order() {
    let mut h = client(with(no_timeouts(), |c| c.max_in_flight(2)), false);
    let mut a = h.call("a".into());
    let mut b = h.call("b".into());
    let mut c = h.call("c".into());
    assert_eq!(h.pending_calls(), 1);
    assert_eq!(&h.take_output()[..], b"a\nb\n");
    h.feed(b"A\nB\n").unwrap();
    assert_eq!(reply(&mut a).unwrap().unwrap(), "A");
    assert_eq!(reply(&mut b).unwrap().unwrap(), "B");
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(&h.take_output()[..], b"c\n");
    assert!(reply(&mut c).is_none());
}

#[test]
fn client_calls_wait_while_the_write_queue_is_paused() {
    let mut h = client(with(marks(8, 16), |c| c.max_in_flight(8)), false);
    for _ in 0..3 {
        h.call("123456789".into());
    }
    // 10 bytes, then 20: at the high mark the third call waits.
    assert_eq!(h.queued_output(), 20);
    assert_eq!(h.pending_calls(), 1);
    h.take_output_upto(12);
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(h.queued_output(), 18);
}

#[test]
fn client_calls_are_still_taken_while_reading_is_paused() {
    let mut h = client(with(no_timeouts(), |c| c.max_in_flight(2)), true);
    let mut a = h.call("a".into());
    h.feed(b"A\n").unwrap();
    assert_eq!(reply(&mut a).unwrap().unwrap(), "A");
    assert_eq!(h.engine().state.reading, Reading::PausedByConsumer);
    h.call("b".into());
    assert_eq!(h.pending_calls(), 0);
    assert_eq!(&h.take_output()[..], b"a\nb\n");
}

#[test]
fn client_calls_are_not_taken_once_closing_and_fail_when_the_connection_ends() {
    let mut h = client(no_timeouts(), false);
    let mut a = h.call("a".into());
    h.connection().begin_close();
    h.step().unwrap();
    assert_eq!(h.engine().state.lifecycle, Lifecycle::Closing);
    let mut b = h.call("b".into());
    assert_eq!(h.pending_calls(), 1);
    assert_eq!(&h.take_output()[..], b"a\n");
    assert!(h.is_done());
    assert!(reply(&mut a).unwrap().unwrap_err().is_connection_lost());
    assert!(reply(&mut b).unwrap().unwrap_err().is_connection_lost());
}
