//! The RESP2/RESP3 codec, sans-IO: bytes in a read buffer to [`Frame`]s and commands, and
//! frames and commands to bytes.
//!
//! - [`frame`] — [`Frame`], one RESP2/RESP3 value.
//! - [`decoder`] — [`Decoder`], [`decode`] and [`decode_command`]; it runs the private
//!   check pass (`check`: where a frame ends, resumable), the parse pass (`parse`: build the
//!   frame), the line helpers both share (`line`), the inline-command splitter (`inline`)
//!   and the one-pass scanner for canonical commands (`command_scan`).
//! - [`encode`] — [`Frame::encode`] and allocation-free reply helpers.
//! - [`command_encoder`] — [`encode_command`] and [`CommandEncoder`] for client commands.
//! - [`limits`] — [`Limits`]; [`error`] — [`DecodeError`].
//!
//! Every public module here is also re-exported at the crate root (`quasar_redis::frame`,
//! `quasar_redis::decoder`, ..., and `quasar_redis::command` for [`command_encoder`]).
//!
//! [`Frame`]: frame::Frame
//! [`Frame::encode`]: frame::Frame::encode
//! [`Decoder`]: decoder::Decoder
//! [`decode`]: decoder::decode
//! [`decode_command`]: decoder::decode_command
//! [`encode_command`]: command_encoder::encode_command
//! [`CommandEncoder`]: command_encoder::CommandEncoder
//! [`Limits`]: limits::Limits
//! [`DecodeError`]: error::DecodeError

pub mod command_encoder;
pub mod decoder;
pub mod encode;
pub mod error;
pub mod frame;
pub mod limits;

mod check;
mod command_scan;
mod inline;
mod line;
mod parse;
