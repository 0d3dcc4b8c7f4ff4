//! The parse pass: builds a [`Frame`] from bytes the check pass found complete.
//!
//! The frame's bytes are split off the read buffer and frozen once; every payload is then a
//! [`Bytes::slice`] of them, so nothing is copied. The check pass has already bounded the
//! nesting depth (so the recursion here is bounded) and the aggregate lengths (so
//! `Vec::with_capacity` is backed by bytes that really arrived). Errors are still returned
//! rather than assumed away, so a disagreement between the passes is a bug report, not a panic.

use bytes::Bytes;

use crate::resp::check::{command_len, Mode};
use crate::resp::error::DecodeError;
use crate::resp::frame::Frame;
use crate::resp::line::{line_value, parse_len, Kind, LineValue};

/// Reads one frame from `src`, which holds exactly one checked frame.
pub(crate) fn parse_frame(src: &Bytes) -> Result<Frame, DecodeError> {
    Parser { src, pos: 0 }.frame()
}

/// Reads the elements of a checked command array (`*N` then `N` bulk strings).
pub(crate) fn parse_command(src: &Bytes) -> Result<Vec<Bytes>, DecodeError> {
    let mut p = Parser { src, pos: 0 };
    let (_, header) = p.line()?;
    let Some(len) = command_len(header, Mode::Command)? else {
        return Ok(Vec::new());
    };
    let mut args = Vec::with_capacity(len as usize);
    for _ in 0..len {
        let (_, header) = p.line()?;
        let len = parse_len(header)?.ok_or(DecodeError::NullBulkInCommand)?;
        args.push(p.payload(len)?);
    }
    Ok(args)
}

#[derive(Debug)]
struct Parser<'a> {
    src: &'a Bytes,
    pos: usize,
}

impl<'a> Parser<'a> {
    /// Reads a type byte and the rest of its line; returns the type and the line's content.
    fn line(&mut self) -> Result<(u8, &'a [u8]), DecodeError> {
        let src: &'a [u8] = self.src;
        let ty = *src.get(self.pos).ok_or(DecodeError::MissingCrlf)?;
        let start = self.pos + 1;
        let len = src
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\r'))
            .ok_or(DecodeError::MissingCrlf)?;
        self.pos = start + len + 2;
        Ok((ty, &src[start..start + len]))
    }

    /// Slices `len` payload bytes and skips the `\r\n` after them.
    fn payload(&mut self, len: u64) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end + 2 <= self.src.len())
            .ok_or(DecodeError::BulkMissingCrlf)?;
        self.pos = end + 2;
        Ok(self.src.slice(start..end))
    }

    /// Slices the content of the line just read (`content` must come from [`Parser::line`]).
    fn slice_line(&self, content: &[u8]) -> Bytes {
        self.src.slice_ref(content)
    }

    fn frame(&mut self) -> Result<Frame, DecodeError> {
        let (ty, content) = self.line()?;
        Ok(match Kind::of(ty)? {
            Kind::Line => match line_value(ty, content)? {
                LineValue::Simple => Frame::Simple(self.slice_line(content)),
                LineValue::Error => Frame::Error(self.slice_line(content)),
                LineValue::Integer(n) => Frame::Integer(n),
                LineValue::Null => Frame::Null,
                LineValue::Double(d) => Frame::Double(d),
                LineValue::Boolean(b) => Frame::Boolean(b),
                LineValue::BigNumber => Frame::BigNumber(self.slice_line(content)),
            },
            Kind::Blob => {
                let Some(len) = parse_len(content)? else {
                    return Ok(Frame::NullBulk);
                };
                let data = self.payload(len)?;
                match ty {
                    b'$' => Frame::Bulk(data),
                    b'!' => Frame::BlobError(data),
                    _ => match data.get(..4) {
                        Some(&[a, b, c, b':']) => Frame::Verbatim {
                            format: [a, b, c],
                            text: data.slice(4..),
                        },
                        _ => return Err(DecodeError::InvalidVerbatim),
                    },
                }
            }
            Kind::Aggregate { per_entry } => {
                let Some(len) = parse_len(content)? else {
                    return Ok(Frame::NullArray);
                };
                if per_entry == 2 {
                    Frame::Map(self.pairs(len)?)
                } else {
                    let items = self.frames(len)?;
                    match ty {
                        b'*' => Frame::Array(items),
                        b'~' => Frame::Set(items),
                        _ => Frame::Push(items),
                    }
                }
            }
            Kind::Attribute => {
                let len = parse_len(content)?.ok_or(DecodeError::NegativeLength(-1))?;
                let attributes = self.pairs(len)?;
                let frame = Box::new(self.frame()?);
                Frame::Attributed { attributes, frame }
            }
        })
    }

    fn frames(&mut self, len: u64) -> Result<Vec<Frame>, DecodeError> {
        let mut items = Vec::with_capacity(len as usize);
        for _ in 0..len {
            items.push(self.frame()?);
        }
        Ok(items)
    }

    fn pairs(&mut self, len: u64) -> Result<Vec<(Frame, Frame)>, DecodeError> {
        let mut pairs = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let key = self.frame()?;
            let value = self.frame()?;
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}
