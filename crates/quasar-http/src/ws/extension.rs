//! permessage-deflate negotiation (RFC 7692 §5, §7.1) over `Sec-WebSocket-Extensions`.
//!
//! A server calls [`DeflateConfig::accept_offer`] with the handshake's headers: the first
//! `permessage-deflate` offer whose parameters are all known, unrepeated and in range is
//! accepted (invalid offers are declined, as §5.1 requires) and the answer's header value is
//! returned with the agreed [`DeflateParams`]. A client sends [`DeflateConfig::client_offer`]
//! and checks the `101` with [`DeflateConfig::check_response`], which refuses anything it did
//! not offer. The parameters:
//!
//! - `server_no_context_takeover` / `client_no_context_takeover`: that side resets its
//!   compression window after every message.
//! - `server_max_window_bits` / `client_max_window_bits` (8-15): that side's largest window.
//!   A client may offer `client_max_window_bits` without a value ("I can limit mine"); a
//!   server may only answer it when offered.
//!
//! # Examples
//!
//! ```
//! use http::header::{HeaderMap, HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
//! use quasar_http::ws::DeflateConfig;
//!
//! let server = DeflateConfig::default();
//! let mut offer = HeaderMap::new();
//! offer.insert(
//!     SEC_WEBSOCKET_EXTENSIONS,
//!     HeaderValue::from_static("permessage-deflate; server_max_window_bits=10; client_max_window_bits"),
//! );
//! let (params, answer) = server.accept_offer(&offer).expect("accepted");
//! assert_eq!(params.server_max_window_bits, 10);
//! assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
//!
//! let client = DeflateConfig::default();
//! let mut reply = HeaderMap::new();
//! reply.insert(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(&answer).unwrap());
//! assert_eq!(client.check_response(&reply), Ok(Some(params)));
//! ```

use http::header::SEC_WEBSOCKET_EXTENSIONS;
use http::HeaderMap;

use crate::framing::{list_members, trim_ows};
use crate::ws::{Deflater, HandshakeError, Inflater, Role};

/// The extension's registered name.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// One endpoint's permessage-deflate settings (what it offers or accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) the extension at all.
    pub enabled: bool,
    /// Compression level, 0-9 (default 6, zlib's default).
    pub level: u32,
    /// Ask that the server reset its window after each message.
    pub server_no_context_takeover: bool,
    /// Ask that the client reset its window after each message.
    pub client_no_context_takeover: bool,
    /// Largest window the server may compress with (8-15; 15 means no limit asked for).
    pub server_max_window_bits: u8,
    /// Largest window the client may compress with (8-15; 15 means no limit asked for).
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            level: 6,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The parameters both ends agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its window after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its window after each message.
    pub client_no_context_takeover: bool,
    /// The server's largest window (8-15).
    pub server_max_window_bits: u8,
    /// The client's largest window (8-15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The compressor for messages `role` sends.
    pub fn deflater(&self, role: Role, level: u32) -> Deflater {
        match role {
            Role::Server => Deflater::new(
                level,
                self.server_max_window_bits,
                self.server_no_context_takeover,
            ),
            Role::Client => Deflater::new(
                level,
                self.client_max_window_bits,
                self.client_no_context_takeover,
            ),
        }
    }

    /// The decompressor for messages `role` receives (the peer's takeover rule).
    pub fn inflater(&self, role: Role) -> Inflater {
        match role {
            Role::Server => Inflater::new(self.client_no_context_takeover),
            Role::Client => Inflater::new(self.server_no_context_takeover),
        }
    }
}

/// The parameters of one offer or answer, each at most once.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

impl DeflateConfig {
    /// permessage-deflate off.
    pub fn disabled() -> Self {
        DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        }
    }

    /// Server side: the agreed parameters and the `Sec-WebSocket-Extensions` answer for the
    /// first acceptable offer in `headers`, or `None` (disabled, nothing offered, or every
    /// offer invalid).
    pub fn accept_offer(&self, headers: &HeaderMap) -> Option<(DeflateParams, String)> {
        if !self.enabled {
            return None;
        }
        let offers = headers.get_all(SEC_WEBSOCKET_EXTENSIONS);
        let elements = offers.iter().flat_map(|v| list_members(v.as_bytes()));
        elements
            .filter_map(|element| parse_element(element, Role::Server))
            .map(|offer| self.answer(&offer))
            .next()
    }

    fn answer(&self, offer: &Parsed) -> (DeflateParams, String) {
        let mut params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || self.client_no_context_takeover,
            ..DeflateParams::default()
        };
        let mut answer = String::from(PERMESSAGE_DEFLATE);
        if params.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if params.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        let own = self.server_max_window_bits.clamp(8, 15);
        let server_bits = offer.server_max_window_bits.map_or(own, |b| b.min(own));
        if server_bits < 15 || offer.server_max_window_bits.is_some() {
            params.server_max_window_bits = server_bits;
            answer.push_str(&format!("; server_max_window_bits={server_bits}"));
        }
        // client_max_window_bits may only be answered when offered (§7.1.2.2).
        if let Some(offered) = offer.client_max_window_bits {
            let want = self.client_max_window_bits.clamp(8, 15);
            let bits = offered.map_or(want, |b| b.min(want));
            params.client_max_window_bits = bits;
            if bits < 15 {
                answer.push_str(&format!("; client_max_window_bits={bits}"));
            }
        }
        (params, answer)
    }

    /// Client side: the `Sec-WebSocket-Extensions` value to offer (`None` when disabled).
    pub fn client_offer(&self) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut offer = String::from(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            offer.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            offer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            let bits = self.server_max_window_bits.max(8);
            offer.push_str(&format!("; server_max_window_bits={bits}"));
        }
        // Always say we can limit our window: servers then may choose a smaller one.
        if self.client_max_window_bits < 15 {
            let bits = self.client_max_window_bits.max(8);
            offer.push_str(&format!("; client_max_window_bits={bits}"));
        } else {
            offer.push_str("; client_max_window_bits");
        }
        Some(offer)
    }

    /// Client side: checks the `101`'s `Sec-WebSocket-Extensions` against what
    /// [`client_offer`](Self::client_offer) sent; `Ok(None)` when the server declined.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidExtension`] for an extension or parameter not offered, a
    /// repeated or out-of-range parameter, or more than one extension.
    pub fn check_response(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<DeflateParams>, HandshakeError> {
        let mut elements = headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .flat_map(|v| list_members(v.as_bytes()));
        let Some(element) = elements.next() else {
            return Ok(None);
        };
        if !self.enabled || elements.next().is_some() {
            return Err(HandshakeError::InvalidExtension);
        }
        let answer =
            parse_element(element, Role::Client).ok_or(HandshakeError::InvalidExtension)?;
        let server_limit = self.server_max_window_bits.clamp(8, 15);
        let server_bits = answer.server_max_window_bits.unwrap_or(15);
        if self.server_max_window_bits < 15 && server_bits > server_limit {
            return Err(HandshakeError::InvalidExtension);
        }
        if self.server_no_context_takeover && !answer.server_no_context_takeover {
            return Err(HandshakeError::InvalidExtension);
        }
        let client_bits = match answer.client_max_window_bits {
            None => self.client_max_window_bits.clamp(8, 15),
            Some(Some(b)) => b.min(self.client_max_window_bits.clamp(8, 15)),
            // The answer must carry a value (parse_element refuses a bare one for clients).
            Some(None) => return Err(HandshakeError::InvalidExtension),
        };
        Ok(Some(DeflateParams {
            server_no_context_takeover: answer.server_no_context_takeover,
            client_no_context_takeover: answer.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        }))
    }
}

/// Parses one `permessage-deflate; param; param=value` element; `None` for another
/// extension or any invalid, unknown or repeated parameter. `receiver` is the side reading
/// it: a server reads offers (a bare `client_max_window_bits` is allowed), a client answers.
fn parse_element(element: &[u8], receiver: Role) -> Option<Parsed> {
    let mut parts = element.split(|&b| b == b';').map(trim_ows);
    if !parts
        .next()?
        .eq_ignore_ascii_case(PERMESSAGE_DEFLATE.as_bytes())
    {
        return None;
    }
    let mut parsed = Parsed::default();
    for param in parts {
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (
                trim_ows(&param[..i]),
                Some(unquote(trim_ows(&param[i + 1..]))?),
            ),
            None => (param, None),
        };
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) if !parsed.server_no_context_takeover => {
                parsed.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !parsed.client_no_context_takeover => {
                parsed.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if parsed.server_max_window_bits.is_none() => {
                parsed.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if parsed.client_max_window_bits.is_none() => {
                let bits = match v {
                    Some(v) => Some(window_bits(v)?),
                    None if receiver == Role::Server => None,
                    None => return None,
                };
                parsed.client_max_window_bits = Some(bits);
            }
            _ => return None,
        }
    }
    Some(parsed)
}

/// A window size value: 1-2 decimal digits, 8-15, no leading zero.
fn window_bits(value: &[u8]) -> Option<u8> {
    match value {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// The value without the quotes of a quoted-string (RFC 7692 §5.2 allows either form).
fn unquote(value: &[u8]) -> Option<&[u8]> {
    match value {
        [b'"', inner @ .., b'"'] => Some(inner),
        [b'"', ..] => None,
        v => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_static(v));
        }
        h
    }

    fn answer(config: DeflateConfig, offer: &'static str) -> Option<String> {
        config.accept_offer(&headers(&[offer])).map(|(_, a)| a)
    }

    #[test]
    fn the_plain_offer_gets_the_plain_answer() {
        let c = DeflateConfig::default();
        assert_eq!(
            answer(c, "permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            answer(c, "permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            answer(DeflateConfig::disabled(), "permessage-deflate"),
            None
        );
        assert_eq!(answer(c, "x-webkit-deflate-frame"), None);
    }

    #[test]
    fn parameters_are_echoed_or_lowered() {
        let c = DeflateConfig::default();
        assert_eq!(
            answer(
                c,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert_eq!(
            answer(c, "permessage-deflate; server_max_window_bits=\"8\"").as_deref(),
            Some("permessage-deflate; server_max_window_bits=8")
        );
        let small = DeflateConfig {
            server_max_window_bits: 10,
            client_max_window_bits: 9,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        assert_eq!(
            answer(small, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11")
                .as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")
        );
        // client_max_window_bits is answered only when offered.
        assert_eq!(
            answer(small, "permessage-deflate").as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10")
        );
    }

    #[test]
    fn invalid_offers_are_declined_and_the_next_one_taken() {
        let c = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_max_window_bits=1a",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=\"10",
        ] {
            assert_eq!(answer(c, bad), None, "{bad}");
        }
        let two = headers(&[
            "permessage-deflate; server_max_window_bits=20, permessage-deflate; client_max_window_bits=12",
        ]);
        let (params, _) = c.accept_offer(&two).unwrap();
        assert_eq!(params.client_max_window_bits, 12);
    }

    #[test]
    fn the_client_offer_round_trips_through_a_server() {
        for server_bits in 8..=15 {
            for client_bits in 8..=15 {
                let client = DeflateConfig {
                    server_max_window_bits: server_bits,
                    client_max_window_bits: client_bits,
                    server_no_context_takeover: server_bits % 2 == 0,
                    client_no_context_takeover: client_bits % 2 == 1,
                    ..DeflateConfig::default()
                };
                let offer = client.client_offer().unwrap();
                let mut h = HeaderMap::new();
                h.insert(
                    SEC_WEBSOCKET_EXTENSIONS,
                    HeaderValue::from_str(&offer).unwrap(),
                );
                let (server_params, answer) = DeflateConfig::default().accept_offer(&h).unwrap();
                let mut reply = HeaderMap::new();
                reply.insert(
                    SEC_WEBSOCKET_EXTENSIONS,
                    HeaderValue::from_str(&answer).unwrap(),
                );
                let client_params = client.check_response(&reply).unwrap().unwrap();
                assert_eq!(client_params, server_params, "{offer} -> {answer}");
                assert_eq!(client_params.server_max_window_bits, server_bits);
                assert_eq!(client_params.client_max_window_bits, client_bits);
            }
        }
    }

    #[test]
    fn the_client_refuses_what_it_did_not_offer() {
        let c = DeflateConfig::default();
        assert_eq!(c.check_response(&HeaderMap::new()), Ok(None));
        for bad in [
            "x-other",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; bogus",
        ] {
            assert_eq!(
                c.check_response(&headers(&[bad])),
                Err(HandshakeError::InvalidExtension),
                "{bad}"
            );
        }
        assert_eq!(
            DeflateConfig::disabled().check_response(&headers(&["permessage-deflate"])),
            Err(HandshakeError::InvalidExtension)
        );
        let limited = DeflateConfig {
            server_max_window_bits: 10,
            ..DeflateConfig::default()
        };
        assert_eq!(
            limited.check_response(&headers(&["permessage-deflate; server_max_window_bits=12"])),
            Err(HandshakeError::InvalidExtension)
        );
        assert_eq!(
            limited.check_response(&headers(&["permessage-deflate"])),
            Err(HandshakeError::InvalidExtension)
        );
    }
}
