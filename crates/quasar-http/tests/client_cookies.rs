//! `HttpClient`'s cookie jar against a real server: cookies set by one response are sent on
//! the next, expired ones are dropped, `Path` and the host are respected, redirects carry
//! and store cookies, and a client without a jar sends none.

use crate::client_support;

use std::sync::Arc;

use client_support::{response, serve, within, Server};
use quasar_http::client::{HttpClient, Jar};

/// A server that sets the cookies `/set/...` routes name and shows the `Cookie` header it
/// got in every answer's body.
async fn cookie_server() -> Server {
    serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let got = req.header("cookie").unwrap_or("").to_owned();
            let set = match req.path() {
                "/login" => "set-cookie: session=abc; Path=/\r\n\
                             set-cookie: app=1; Path=/app\r\n\
                             set-cookie: stale=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n\
                             set-cookie: temp=1; Max-Age=3600\r\n"
                    .to_owned(),
                "/logout-temp" => "set-cookie: temp=; Max-Age=0\r\n".to_owned(),
                "/redirect" => {
                    let head = "set-cookie: hop=1; Path=/\r\nlocation: /after\r\n";
                    conn.write(response(302, head, "").as_bytes()).await;
                    continue;
                }
                _ => String::new(),
            };
            conn.write(response(200, &set, &got).as_bytes()).await;
        }
    })
    .await
}

async fn body(client: &HttpClient, url: &str) -> String {
    let res = within(url, client.get(url)).await.unwrap();
    assert_eq!(res.status(), 200);
    String::from_utf8(res.body().to_vec()).unwrap()
}

#[tokio::test]
async fn cookies_set_by_one_response_are_sent_on_the_next_by_path_and_expiry() {
    let server = cookie_server().await;
    let client = HttpClient::builder().cookie_store(true).build().unwrap();
    assert_eq!(body(&client, &server.url("/login")).await, "");
    // `/` gets the session and temp cookies; `/app/x` also the one for its path;
    // the cookie that came already expired is never sent.
    assert_eq!(body(&client, &server.url("/")).await, "session=abc; temp=1");
    assert_eq!(
        body(&client, &server.url("/app/x")).await,
        "app=1; session=abc; temp=1"
    );
    // A later `Max-Age=0` drops the cookie.
    body(&client, &server.url("/logout-temp")).await;
    assert_eq!(body(&client, &server.url("/")).await, "session=abc");
}

#[tokio::test]
async fn host_only_cookies_stay_with_their_host_and_callers_cookies_come_first() {
    let server = cookie_server().await;
    let jar = Arc::new(Jar::default());
    let client = HttpClient::builder()
        .cookie_jar(Arc::clone(&jar))
        .build()
        .unwrap();
    let by_ip = format!("http://127.0.0.1:{}", server.addr.port());
    body(&client, &format!("{by_ip}/login")).await;
    assert_eq!(
        jar.cookies(&format!("{by_ip}/")).as_deref(),
        Some("session=abc; temp=1")
    );
    // Host-only cookies (no `Domain`): another name for the same server gets none, and
    // the port does not matter (RFC 6265 §8.5).
    let port = server.addr.port();
    assert_eq!(jar.cookies(&format!("http://localhost:{port}/")), None);
    assert_eq!(jar.cookies(&format!("http://127.0.0.2:{port}/")), None);
    assert!(jar.cookies("http://127.0.0.1:1/").is_some());
    // A caller's own `Cookie` header goes first, the jar's after it.
    let req = http::Request::get(format!("{by_ip}/"))
        .header("cookie", "mine=1")
        .body(bytes::Bytes::new())
        .unwrap();
    let res = within("own cookie", client.request(req)).await.unwrap();
    assert_eq!(&res.body()[..], b"mine=1; session=abc; temp=1");
}

#[tokio::test]
async fn redirects_store_and_send_cookies_on_every_hop() {
    let server = cookie_server().await;
    let client = HttpClient::builder().cookie_store(true).build().unwrap();
    // `/redirect` sets `hop` and sends to `/after`, which must already carry it.
    assert_eq!(body(&client, &server.url("/redirect")).await, "hop=1");
    let jar = client.cookie_jar().unwrap();
    assert_eq!(jar.cookies(&server.url("/")).as_deref(), Some("hop=1"));
}

#[tokio::test]
async fn a_client_without_a_jar_sends_no_cookies() {
    let server = cookie_server().await;
    let client = HttpClient::new();
    body(&client, &server.url("/login")).await;
    assert_eq!(body(&client, &server.url("/")).await, "");
    assert!(client.cookie_jar().is_none());
}
