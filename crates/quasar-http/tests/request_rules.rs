//! Request head rules: limits, RFC 9112 framing and anti-smuggling, keep-alive, Expect.

use bytes::BytesMut;
use http::{Method, StatusCode, Version};
use quasar_http::{Expectation, HttpError, Limits, ParsedRequest, RequestParser};

fn parse_with(limits: Limits, raw: &[u8]) -> Result<Option<ParsedRequest>, HttpError> {
    RequestParser::new(limits).parse(&mut BytesMut::from(raw))
}

fn parse(raw: &str) -> Result<ParsedRequest, HttpError> {
    match parse_with(Limits::default(), raw.as_bytes()) {
        Ok(Some(req)) => Ok(req),
        Ok(None) => panic!("incomplete: {raw:?}"),
        Err(e) => Err(e),
    }
}

fn rejected(raw: &str) -> HttpError {
    parse(raw).expect_err(raw)
}

#[test]
fn a_simple_request_parses_into_parts() {
    let req = parse("GET /a?b=c HTTP/1.1\r\nHost: x.org\r\nX-Y: z\r\n\r\n").unwrap();
    assert_eq!(req.parts.method, Method::GET);
    assert_eq!(req.parts.uri.path(), "/a");
    assert_eq!(req.parts.uri.query(), Some("b=c"));
    assert_eq!(req.parts.version, Version::HTTP_11);
    assert_eq!(req.parts.headers["x-y"], "z");
    assert!(req.body.is_eof());
    assert!(req.keep_alive && !req.upgrade);
}

#[test]
fn leading_empty_lines_are_ignored_and_need_more_is_none() {
    let mut p = RequestParser::default();
    let mut buf = BytesMut::from(&b"\r\n\r\nGET / HTTP/1.0\r\n"[..]);
    assert!(p.parse(&mut buf).unwrap().is_none());
    buf.extend_from_slice(b"\r\n");
    assert!(p.parse(&mut buf).unwrap().is_some());
    assert!(buf.is_empty());
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let mut p = RequestParser::default();
    let mut buf = BytesMut::from(
        &b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
    );
    assert_eq!(p.parse(&mut buf).unwrap().unwrap().parts.uri.path(), "/1");
    assert_eq!(p.parse(&mut buf).unwrap().unwrap().parts.uri.path(), "/2");
    assert!(p.parse(&mut buf).unwrap().is_none());
}

// ===== limits =====

#[test]
fn a_request_line_over_8_kib_is_414_even_before_it_ends() {
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8 * 1024));
    assert_eq!(rejected(&long), HttpError::RequestLineTooLong);
    assert_eq!(
        HttpError::RequestLineTooLong.status(),
        StatusCode::URI_TOO_LONG
    );
    let unfinished = format!("GET /{}", "a".repeat(8 * 1024));
    assert_eq!(
        parse_with(Limits::default(), unfinished.as_bytes()).unwrap_err(),
        HttpError::RequestLineTooLong
    );
}

#[test]
fn a_head_over_16_kib_is_431_even_before_it_ends() {
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    while raw.len() <= 16 * 1024 {
        raw.push_str("X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(
        parse_with(Limits::default(), raw.as_bytes()).unwrap_err(),
        HttpError::HeadTooLarge
    );
    raw.push_str("\r\n");
    assert_eq!(rejected(&raw), HttpError::HeadTooLarge);
    assert_eq!(
        HttpError::HeadTooLarge.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn more_than_100_headers_is_431() {
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..99 {
        raw.push_str(&format!("X-{i}: v\r\n"));
    }
    assert!(
        parse(&format!("{raw}\r\n")).is_ok(),
        "100 headers are allowed"
    );
    raw.push_str("X-last: v\r\n\r\n");
    assert_eq!(rejected(&raw), HttpError::TooManyHeaders);
    assert_eq!(
        HttpError::TooManyHeaders.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn a_declared_body_over_the_limit_is_413() {
    let err = rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16777217\r\n\r\n");
    assert_eq!(
        (err.clone(), err.status()),
        (HttpError::BodyTooLarge, StatusCode::PAYLOAD_TOO_LARGE)
    );
    assert!(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16777216\r\n\r\n").is_ok());
}

// ===== smuggling and framing =====

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let err = rejected(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(err, HttpError::ContentLengthWithTransferEncoding);
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn differing_content_lengths_are_400_and_equal_ones_are_merged() {
    assert_eq!(
        rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        HttpError::ConflictingContentLength
    );
    assert_eq!(
        rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n"),
        HttpError::ConflictingContentLength
    );
    let mut req =
        parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
    let mut buf = BytesMut::from(&b"abcd"[..]);
    assert_eq!(&req.body.decode(&mut buf).unwrap().unwrap()[..], b"abc");
}

#[test]
fn invalid_content_lengths_are_400() {
    for v in [
        "+3",
        "-1",
        "0x3",
        "3 3",
        "",
        "3,",
        "abc",
        "99999999999999999999999",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(rejected(&raw), HttpError::InvalidContentLength, "{v:?}");
    }
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400() {
    for te in ["gzip", "chunked, gzip", "chunked, chunked", ",", "identity"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(rejected(&raw), HttpError::ChunkedNotFinal, "{te:?}");
    }
    let raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(rejected(raw), HttpError::ChunkedNotFinal);
}

#[test]
fn unknown_transfer_codings_before_chunked_are_501() {
    for te in ["gzip, chunked", "foo, chunked", "x-custom,chunked"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        let err = rejected(&raw);
        assert_eq!(
            (err.clone(), err.status()),
            (
                HttpError::UnsupportedTransferCoding,
                StatusCode::NOT_IMPLEMENTED
            )
        );
    }
    assert!(
        parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n")
            .unwrap()
            .body
            .is_chunked()
    );
}

#[test]
fn transfer_encoding_in_http10_is_400() {
    let err = rejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(err, HttpError::TransferEncodingInHttp10);
}

#[test]
fn host_is_required_once_in_http11_and_must_be_an_authority() {
    assert_eq!(rejected("GET / HTTP/1.1\r\n\r\n"), HttpError::MissingHost);
    assert!(
        parse("GET / HTTP/1.0\r\n\r\n").is_ok(),
        "HTTP/1.0 needs no Host"
    );
    assert_eq!(
        rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        HttpError::InvalidHost
    );
    assert_eq!(
        rejected("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        HttpError::InvalidHost
    );
    assert_eq!(
        rejected("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
        HttpError::InvalidHost
    );
    assert!(parse("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").is_ok());
}

#[test]
fn malformed_header_lines_are_400() {
    // Each is refused by httparse itself; these tests pin that behaviour down.
    let cases = [
        "GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", // space in a name
        "GET / HTTP/1.1\r\nHost: a\r\nBad\0Name: v\r\n\r\n", // NUL in a name
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",               // space before the colon
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",  // obsolete line folding
        "GET / HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n",      // folding with a tab
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",     // NUL in a value
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",     // bare CR in a value
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",     // no colon
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",               // two spaces
        "GET / FTP/1.1\r\nHost: a\r\n\r\n",                 // not HTTP
        "GET / HTTP/1-x\r\nHost: a\r\n\r\n",                // garbage version
        "GET HTTP/1.1\r\nHost: a\r\n\r\n",                  // no target
    ];
    for raw in cases {
        let err = rejected(raw);
        assert!(
            matches!(err, HttpError::InvalidHead(_)),
            "{raw:?} -> {err:?}"
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.must_close());
    }
}

#[test]
fn a_bare_lf_in_the_head_is_400() {
    assert_eq!(
        rejected("GET / HTTP/1.1\nHost: a\r\n\r\n"),
        HttpError::BareLineFeed
    );
    assert_eq!(
        rejected("GET / HTTP/1.1\r\nHost: a\n\n"),
        HttpError::BareLineFeed
    );
}

#[test]
fn other_http_versions_are_505() {
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9"] {
        let err = rejected(&format!("GET / {v}\r\nHost: a\r\n\r\n"));
        assert_eq!(
            (err.clone(), err.status()),
            (
                HttpError::UnsupportedVersion,
                StatusCode::HTTP_VERSION_NOT_SUPPORTED
            ),
            "{v}"
        );
    }
}

#[test]
fn targets_the_uri_type_refuses_are_400() {
    assert_eq!(
        rejected("GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        rejected("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"),
        HttpError::InvalidUri
    );
}

// ===== keep-alive, upgrade, expect =====

#[test]
fn keep_alive_follows_version_and_connection() {
    let ka = |raw: &str| parse(raw).unwrap().keep_alive;
    assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"
    ));
    assert!(ka("CONNECT a:443 HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: Upgrade\r\n\r\n"));
}

#[test]
fn upgrade_needs_both_headers() {
    assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n").unwrap().upgrade);
    assert!(
        !parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .upgrade
    );
}

#[test]
fn expect_100_continue_is_detected_and_others_are_417() {
    let ex = |raw: &str| parse(raw).unwrap().expect;
    assert_eq!(
        ex("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"),
        Expectation::Continue
    );
    assert_eq!(
        ex("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
        Expectation::None
    );
    let unknown = ex("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n");
    assert_eq!(
        (unknown, unknown.status()),
        (
            Expectation::Unsupported,
            Some(StatusCode::EXPECTATION_FAILED)
        )
    );
    assert_eq!(ex("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status(), None);
}
