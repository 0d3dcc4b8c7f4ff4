//! `HttpClient` decompression against a real server that compresses with flate2: gzip,
//! zlib and raw deflate bodies (length-delimited and chunked) decoded, the offer sent and
//! withheld as configured, a gzip bomb stopped at the decoded-size limit, and a corrupt
//! body as a typed error.

use crate::client_support;

use std::io::Write;
use std::sync::OnceLock;

use bytes::BytesMut;
use client_support::{serve, within, Server};
use flate2::Compression;
use quasar_http::client::{ClientError, HttpClient};
use quasar_http::HttpError;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The text every route compresses.
fn text() -> Vec<u8> {
    b"quasar compresses this line; ".repeat(2000)
}

/// 8 MiB of zeros in about 80 KiB of gzip (fast level: cheap to make), made once per test
/// binary.
fn bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&vec![0u8; 8 << 20]).unwrap();
        enc.finish().unwrap()
    })
}

/// A server whose routes send compressed bodies; `/echo-accept` shows `Accept-Encoding`.
async fn compressing_server() -> Server {
    serve(move |mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let (coding, body, chunked) = match req.path() {
                "/gzip" => ("gzip", gzip(&text()), false),
                "/deflate-chunked" => ("deflate", zlib(&text()), true),
                "/raw-deflate" => ("deflate", raw_deflate(&text()), false),
                "/bomb" => ("gzip", bomb().to_vec(), true),
                "/corrupt" => (
                    "gzip",
                    b"\x1f\x8b\x08\x00 definitely not gzip".to_vec(),
                    false,
                ),
                "/br" => ("br", b"opaque".to_vec(), false),
                _ => {
                    let seen = req.header("accept-encoding").unwrap_or("-").to_owned();
                    ("identity", seen.into_bytes(), false)
                }
            };
            let mut out = BytesMut::new();
            out.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\ncontent-encoding: {coding}\r\n").as_bytes(),
            );
            if req.method() == http::Method::HEAD {
                out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            } else if chunked {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                for piece in body.chunks(1000) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else {
                out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
            }
            conn.write(&out).await;
        }
    })
    .await
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded() {
    let server = compressing_server().await;
    let client = HttpClient::new();
    for path in ["/gzip", "/deflate-chunked", "/raw-deflate"] {
        let res = within(path, client.get(&server.url(path))).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.body().len(), text().len(), "{path}");
        assert!(res.body()[..] == text()[..], "{path}");
        // The headers that described the wire bytes are gone.
        assert!(res.headers().get("content-encoding").is_none(), "{path}");
        assert!(res.headers().get("content-length").is_none(), "{path}");
    }
    // A HEAD answer has no body to decode: its headers stay as they are.
    let req = http::Request::head(server.url("/gzip"))
        .body(bytes::Bytes::new())
        .unwrap();
    let res = within("HEAD", client.request(req)).await.unwrap();
    assert!(res.body().is_empty());
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(
        res.headers()["content-length"],
        gzip(&text()).len().to_string().as_str()
    );
    // Unknown codings come back as they are.
    let res = within("br", client.get(&server.url("/br"))).await.unwrap();
    assert_eq!(&res.body()[..], b"opaque");
    assert_eq!(res.headers()["content-encoding"], "br");
    assert_eq!(
        client.sessions(),
        1,
        "decoding keeps the connection reusable"
    );
}

#[tokio::test]
async fn the_offer_is_sent_unless_turned_off_or_set_by_the_caller() {
    let server = compressing_server().await;
    let client = HttpClient::new();
    let res = within("offer", client.get(&server.url("/echo-accept")))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"gzip, deflate");

    let plain = HttpClient::builder().decompress(false).build().unwrap();
    let res = within("off", plain.get(&server.url("/echo-accept")))
        .await
        .unwrap();
    assert_eq!(&res.body()[..], b"-");
    let res = within("raw", plain.get(&server.url("/gzip")))
        .await
        .unwrap();
    assert_eq!(res.body()[..], gzip(&text())[..], "not decoded when off");

    // A caller's own Accept-Encoding is sent as is, and the body left alone.
    let req = http::Request::get(server.url("/gzip"))
        .header("accept-encoding", "gzip")
        .body(bytes::Bytes::new())
        .unwrap();
    let res = within("own", client.request(req)).await.unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.body()[..], gzip(&text())[..]);
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_decoded_limit() {
    let server = compressing_server().await;
    assert!(bomb().len() < 100 << 10, "a bomb: {} bytes", bomb().len());
    let client = HttpClient::builder().max_body(256 << 10).build().unwrap();
    let err = within("bomb", client.get(&server.url("/bomb")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Http(HttpError::BodyTooLarge)),
        "{err:?}"
    );
    // The same limit lets a body that decodes under it through.
    let res = within("small", client.get(&server.url("/gzip")))
        .await
        .unwrap();
    assert_eq!(res.body().len(), text().len());
}

#[tokio::test]
async fn a_corrupt_body_is_a_typed_error() {
    let server = compressing_server().await;
    let client = HttpClient::new();
    let err = within("corrupt", client.get(&server.url("/corrupt")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decompress(_)), "{err:?}");
    assert_eq!(
        client.idle_connections(),
        0,
        "the broken connection is not pooled"
    );
}
