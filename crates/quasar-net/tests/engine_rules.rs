//! The harness's virtual time through the public API only, as a protocol author writes
//! tests for their own consumer (the engine's own rules are tested row by row in
//! `src/engine/tests.rs`).

use std::time::Duration;

use bytes::{Buf, BytesMut};
use quasar_net::harness::ConsumerHarness;
use quasar_net::{ConnectionConfig, Context, MinRate, Progress, ProtocolConsumer, Result};

/// A server that greets at accept and then waits for lines.
struct Greeter;

impl ProtocolConsumer for Greeter {
    type Request = ();
    type Response = ();

    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"hello\n").unwrap();
    }

    fn data_received(&mut self, _cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        buf.advance(end + 1);
        Ok(Progress::Finished(()))
    }
}

/// A client that sends a line and takes a line back.
struct Pinger;

impl ProtocolConsumer for Pinger {
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
        _cx: &mut Context<'_, String, String>,
        buf: &mut BytesMut,
    ) -> Result<Progress<String>> {
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(Progress::NeedMore);
        };
        let line = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.advance(end + 1);
        Ok(Progress::Finished(line))
    }
}

#[test]
fn a_greeted_idle_connection_is_closed_by_its_keep_alive_in_virtual_time() {
    let mut config = ConnectionConfig::default();
    config
        .keep_alive(Duration::from_secs(15))
        .min_receive_rate(MinRate::OFF);
    let mut h = ConsumerHarness::server_with(|| Greeter, config);
    assert_eq!(&h.take_output()[..], b"hello\n");
    h.advance(Duration::from_secs(14)).unwrap();
    assert!(!h.is_closed());
    let err = h.advance(Duration::from_secs(2)).unwrap_err();
    assert!(err.is_idle_timeout(), "{err}");
    assert_eq!(h.elapsed(), Duration::from_secs(15));
    assert!(h.is_done());
}

#[test]
fn a_client_call_gets_the_reply_fed_after_it() {
    let mut h = ConsumerHarness::new(|| Pinger);
    let mut reply = h.call("ping".to_string());
    assert_eq!(&h.take_output()[..], b"ping\n");
    h.feed(b"pong\n").unwrap();
    assert_eq!(reply.try_recv().unwrap().unwrap(), "pong");
}
