//! Broken input: every kind gets an error reply or a close, never a panic, and the server
//! goes on serving other clients.

use crate::server_support;

use std::net::SocketAddr;

use quasar_redis::server::RespServerConfig;
use server_support::*;

async fn still_serves(addr: SocketAddr) {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.call(&["PING"]).await, b"+PONG\r\n");
}

/// Sends `input`, expects the server to answer with a protocol error and close.
async fn protocol_error_then_close(addr: SocketAddr, input: &[u8], reason: &str) {
    let mut c = RawClient::connect(addr).await;
    c.send_raw(input).await;
    let rest = c.read_to_close().await;
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("-ERR Protocol error: ")
            && text.contains(reason)
            && text.ends_with("\r\n"),
        "{text:?}"
    );
    still_serves(addr).await;
}

#[tokio::test]
async fn a_non_bulk_array_element_is_a_protocol_error() {
    let server = start_server(RespServerConfig::default()).await;
    protocol_error_then_close(server.address(), b"*1\r\n+PING\r\n", "expected '$'").await;
}

#[tokio::test]
async fn a_bad_multibulk_length_is_a_protocol_error() {
    let server = start_server(RespServerConfig::default()).await;
    protocol_error_then_close(server.address(), b"*x\r\n", "invalid length").await;
}

#[tokio::test]
async fn a_bulk_length_over_the_limit_is_refused_before_its_payload() {
    let server = start_server(RespServerConfig::default()).await;
    protocol_error_then_close(
        server.address(),
        b"*1\r\n$999999999999\r\n",
        "bulk length 999999999999 exceeds the limit",
    )
    .await;
}

#[tokio::test]
async fn a_200_deep_nested_array_is_refused() {
    let server = start_server(RespServerConfig::default()).await;
    let input = b"*1\r\n".repeat(200);
    protocol_error_then_close(server.address(), &input, "expected '$'").await;
}

#[tokio::test]
async fn an_unterminated_inline_command_is_refused_at_the_inline_limit() {
    let server = start_server(RespServerConfig::default()).await;
    let input = vec![b'a'; 70 * 1024];
    protocol_error_then_close(server.address(), &input, "inline command longer than").await;
}

#[tokio::test]
async fn unbalanced_quotes_in_an_inline_command_are_refused() {
    let server = start_server(RespServerConfig::default()).await;
    protocol_error_then_close(server.address(), b"SET \"a b\r\n", "unbalanced quotes").await;
}

#[tokio::test]
async fn garbage_bytes_never_crash_the_server() {
    let server = start_server(RespServerConfig::default()).await;
    let addr = server.address();
    // A fixed-seed generator: reproducible inputs of every byte value and RESP type byte.
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"*$+-:_,#!=%~>|\r\n0123456789-?abc \"'\\x";
    for round in 0..200 {
        let len = (next() % 300) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        let mut c = RawClient::connect(addr).await;
        c.send_raw(&input).await;
        // Whatever the server says, it must either answer or close; then it must still
        // answer another client.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), c.read_to_close()).await;
        drop(c);
        if round % 20 == 0 {
            still_serves(addr).await;
        }
    }
    still_serves(addr).await;
}

#[tokio::test]
async fn empty_commands_are_ignored_like_redis() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    c.send_raw(b"*0\r\n\r\n*-1\r\nPING\r\n").await;
    assert_eq!(c.read_raw().await, b"+PONG\r\n");
}
