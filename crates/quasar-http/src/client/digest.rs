//! Digest authentication (RFC 7616): answering a `401`'s `WWW-Authenticate: Digest`
//! challenge with `MD5`, `MD5-sess`, `SHA-256` or `SHA-256-sess`, `qop=auth` (or the RFC 2069
//! form when the server offers no `qop`).
//!
//! A request carries credentials for Digest through
//! [`RequestBuilderExt::digest_auth`](crate::client::RequestBuilderExt::digest_auth); the
//! client sends it without `Authorization`, and on a `401` with a Digest challenge sends it
//! once more with the answer (SHA-256 preferred when both are offered; a fresh client nonce
//! and `nc=00000001` each time, since nonces are not cached). `auth-int` (hashing the body)
//! and `userhash` are not supported: such a challenge leaves the `401` as the answer.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Credentials for Digest, carried in a request's extensions.
#[derive(Clone)]
pub(crate) struct DigestCredentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Algorithm> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 0,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
        }
    }
}

/// One parsed `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    /// `qop=auth` offered; `None` when the challenge has no `qop` at all (RFC 2069).
    qop_auth: Option<bool>,
}

impl Challenge {
    /// The best challenge this client can answer among `WWW-Authenticate` values.
    pub(crate) fn pick<'a>(values: impl Iterator<Item = &'a str>) -> Option<Challenge> {
        values
            .filter_map(Challenge::parse)
            .filter(|c| c.qop_auth != Some(false))
            .max_by_key(|c| c.algorithm.strength())
    }

    /// Parses one `Digest ...` value; `None` for other schemes or unknown algorithms.
    fn parse(value: &str) -> Option<Challenge> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            Some(name) => Algorithm::parse(&name)?,
            None => Algorithm::Md5,
        };
        let qop_auth = get("qop").map(|qop| {
            qop.split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
        });
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
        })
    }

    /// The `Authorization` value answering this challenge for `method` on `uri` (the
    /// request target), with client nonce `cnonce`.
    pub(crate) fn answer(
        &self,
        creds: &DigestCredentials,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let nc = "00000001";
        let mut ha1 = alg.hash(&format!("{}:{}:{}", creds.user, self.realm, creds.password));
        if alg.is_sess() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let response = if self.qop_auth == Some(true) {
            alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", uri=\"{}\", algorithm={}, nonce=\"{}\"",
            quote(&creds.user),
            quote(&self.realm),
            quote(uri),
            alg.name(),
            quote(&self.nonce),
        );
        if self.qop_auth == Some(true) {
            let _ = write!(out, ", nc={nc}, cnonce=\"{}\", qop=auth", quote(cnonce));
        }
        let _ = write!(out, ", response=\"{response}\"");
        if let Some(opaque) = &self.opaque {
            let _ = write!(out, ", opaque=\"{}\"", quote(opaque));
        }
        out
    }
}

/// A fresh client nonce: 16 random bytes in hex.
pub(crate) fn cnonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Escapes `"` and `\` for a quoted-string.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `name=token` / `name="quoted \" string"` pairs, comma separated.
fn parse_params(mut rest: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return Some(out);
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => value.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mufasa() -> DigestCredentials {
        DigestCredentials {
            user: "Mufasa".into(),
            password: "Circle of Life".into(),
        }
    }

    fn rfc_challenge(alg: &str) -> String {
        format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        )
    }

    #[test]
    fn rfc_7616_examples() {
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, want) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let c = Challenge::parse(&rfc_challenge(alg)).unwrap();
            let answer = c.answer(&mufasa(), "GET", "/dir/index.html", cnonce);
            assert!(answer.contains(&format!("response=\"{want}\"")), "{answer}");
            assert!(answer.contains("qop=auth, "), "{answer}");
            assert!(answer.contains("opaque=\"FQhe/"), "{answer}");
        }
    }

    #[test]
    fn the_strongest_answerable_challenge_wins() {
        let values = [
            "Basic realm=\"x\"".to_string(),
            rfc_challenge("MD5"),
            rfc_challenge("SHA-256"),
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256".to_string(),
        ];
        let c = Challenge::pick(values.iter().map(String::as_str)).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        // Only `auth-int` offered: not answerable.
        assert!(
            Challenge::pick(["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""].into_iter())
                .is_none()
        );
        // No qop: the RFC 2069 form.
        let legacy = Challenge::pick(["Digest realm=\"r\", nonce=\"n\""].into_iter()).unwrap();
        assert!(!legacy.answer(&mufasa(), "GET", "/", "c").contains("qop"));
        assert!(Challenge::pick(["Digest realm=\"unterminated"].into_iter()).is_none());
        assert!(!format!("{:?}", mufasa()).contains("Circle"));
    }
}
