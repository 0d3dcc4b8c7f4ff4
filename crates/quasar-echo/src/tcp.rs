//! The TCP echo protocol (pulsar's `examples/echo`).
//!
//! A message is any bytes followed by the separator `\r\n\r\n`. The server echoes every
//! whole message, separator included, in order; pipelined messages in one read are
//! answered in one write. `QUIT` is echoed and then the connection closes. A message
//! longer than [`EchoConfig::max_message_size`] is a protocol error that closes the
//! connection. In raw mode every byte is echoed as it arrives.
//!
//! The client side, [`EchoClientConsumer`], sends one message per request and resolves
//! with the echoed message (separator stripped).

use bytes::{Buf, Bytes, BytesMut};
use quasar_net::{Connection, ConsumerFactory, Context, Error, Progress, ProtocolConsumer, Result};

/// The message separator.
pub const SEPARATOR: &[u8] = b"\r\n\r\n";

/// The default largest message (1 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Settings of the echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoConfig {
    /// Largest message body (bytes before the separator) accepted.
    pub max_message_size: usize,
    /// Echo bytes as they arrive, with no framing.
    pub raw: bool,
}

impl Default for EchoConfig {
    fn default() -> Self {
        EchoConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            raw: false,
        }
    }
}

impl EchoConfig {
    /// The write buffer cap an echo server needs: one whole message must fit on top of
    /// the high-water mark, since a message is echoed in one piece.
    pub fn write_buffer_cap(&self, high: usize) -> usize {
        (4 * high).max(high + self.max_message_size + SEPARATOR.len())
    }
}

/// Builds [`EchoServerConsumer`]s.
#[derive(Debug, Clone, Copy)]
pub struct EchoServerFactory {
    config: EchoConfig,
}

impl EchoServerFactory {
    /// A factory for servers with `config`.
    pub fn new(config: EchoConfig) -> Self {
        EchoServerFactory { config }
    }
}

impl ConsumerFactory for EchoServerFactory {
    type Consumer = EchoServerConsumer;

    fn build(&self, _conn: &Connection) -> EchoServerConsumer {
        EchoServerConsumer {
            config: self.config,
            scanned: 0,
        }
    }
}

/// The server side of one echo message.
#[derive(Debug)]
pub struct EchoServerConsumer {
    config: EchoConfig,
    /// How much of the buffer was searched already, so a long message arriving in many
    /// reads is scanned once.
    scanned: usize,
}

impl ProtocolConsumer for EchoServerConsumer {
    type Request = ();
    type Response = ();

    fn data_received(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Result<Progress> {
        if self.config.raw {
            echo(cx, buf, buf.len())?;
            return Ok(Progress::Finished(()));
        }
        match find_separator(buf, self.scanned) {
            Some(end) => {
                if end > self.config.max_message_size {
                    return Err(too_large(end, self.config.max_message_size));
                }
                let len = end + SEPARATOR.len();
                if &buf[..end] == b"QUIT" {
                    cx.close();
                }
                echo(cx, buf, len)?;
                Ok(Progress::Finished(()))
            }
            None => {
                if buf.len() > self.config.max_message_size + SEPARATOR.len() {
                    return Err(too_large(buf.len(), self.config.max_message_size));
                }
                self.scanned = buf.len();
                Ok(Progress::NeedMore)
            }
        }
    }
}

/// Echoes at least this many bytes by handing the read buffer's own bytes to the write
/// queue (`split_to` + `freeze`, no copy) rather than copying them. Below it a copy is
/// cheaper: the queue copies short chunks into its tail anyway, and the first split of
/// a buffer allocates its shared header.
pub const ZERO_COPY_MIN: usize = 2048;

/// Queues the first `len` bytes of `buf` for the peer and removes them from `buf`.
fn echo(cx: &mut Context<'_>, buf: &mut BytesMut, len: usize) -> Result<()> {
    if len >= ZERO_COPY_MIN {
        // The split-off part goes out as is; the buffer keeps its spare capacity and
        // reclaims the whole allocation on its next `reserve` once the part is written.
        cx.write_bytes(buf.split_to(len).freeze())
    } else {
        cx.write(&buf[..len])?;
        if len == buf.len() {
            // Clear rather than advance: the buffer keeps its start, so the next read
            // needs no reclaiming.
            buf.clear();
        } else {
            buf.advance(len);
        }
        Ok(())
    }
}

fn too_large(len: usize, max: usize) -> Error {
    Error::protocol(format!(
        "echo message of at least {len} bytes exceeds the {max}-byte limit"
    ))
}

/// The position of the first separator in `buf`, searching from `from` (minus the
/// separator's length, in case it straddles two reads).
pub fn find_separator(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(SEPARATOR.len() - 1);
    memchr::memmem::find(&buf[start..], SEPARATOR).map(|i| i + start)
}

/// Builds [`EchoClientConsumer`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoClientFactory {
    max_message_size: Option<usize>,
}

impl EchoClientFactory {
    /// A factory whose consumers accept replies up to `max` bytes.
    pub fn with_max_message_size(max: usize) -> Self {
        EchoClientFactory {
            max_message_size: Some(max),
        }
    }
}

impl ConsumerFactory for EchoClientFactory {
    type Consumer = EchoClientConsumer;

    fn build(&self, _conn: &Connection) -> EchoClientConsumer {
        EchoClientConsumer {
            max: self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            scanned: 0,
        }
    }
}

/// The client side of one echo exchange: writes a message, resolves with its echo.
#[derive(Debug)]
pub struct EchoClientConsumer {
    max: usize,
    scanned: usize,
}

impl ProtocolConsumer for EchoClientConsumer {
    type Request = Bytes;
    type Response = Bytes;

    fn start_request(&mut self, cx: &mut Context<'_, Bytes, Bytes>, message: Bytes) -> Result<()> {
        if find_separator(&message, 0).is_some() {
            return Err(Error::protocol(
                "an echo message cannot contain the separator",
            ));
        }
        cx.write_bytes(message)?;
        cx.write(SEPARATOR)
    }

    fn data_received(
        &mut self,
        _cx: &mut Context<'_, Bytes, Bytes>,
        buf: &mut BytesMut,
    ) -> Result<Progress<Bytes>> {
        match find_separator(buf, self.scanned) {
            // Found by cargo fuzz: a reply whose separator arrived in the same read as
            // its body skipped the size check.
            Some(end) if end > self.max => Err(too_large(end, self.max)),
            Some(end) => {
                let mut message = buf.split_to(end + SEPARATOR.len());
                message.truncate(end);
                Ok(Progress::Finished(message.freeze()))
            }
            None if buf.len() > self.max + SEPARATOR.len() => Err(too_large(buf.len(), self.max)),
            None => {
                self.scanned = buf.len();
                Ok(Progress::NeedMore)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separator_straddling_two_reads_is_found() {
        let buf = b"abc\r\n\r\n";
        assert_eq!(find_separator(buf, 5), Some(3));
        assert_eq!(find_separator(b"abc\r\n", 0), None);
    }

    proptest! {
        #[test]
        fn incremental_search_matches_whole_search(data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..256), split in 0usize..256) {
            let split = split.min(data.len());
            let whole = find_separator(&data, 0);
            let first = find_separator(&data[..split], 0);
            let incremental = first.or_else(|| find_separator(&data, split));
            prop_assert_eq!(whole, incremental);
        }
    }
}
