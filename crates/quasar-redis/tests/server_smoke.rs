mod server_support;
use quasar_redis::server::RespServerConfig;
use server_support::*;

#[tokio::test]
async fn smoke() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(c.call(&["SET", "a", "1"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["GET", "a"]).await, b"$1\r\n1\r\n");
    assert_eq!(c.call(&["INCR", "a"]).await, b":2\r\n");
    c.send_raw(b"PING\r\nPING\r\n").await;
    assert_eq!(c.read_raw().await, b"+PONG\r\n");
    assert_eq!(c.read_raw().await, b"+PONG\r\n");
    println!("{}", String::from_utf8_lossy(&c.call(&["INFO"]).await));
}
