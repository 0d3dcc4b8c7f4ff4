//! Basic authentication against a real server: from the URL's user info (percent-escapes
//! decoded, never sent in the request line), from `RequestBuilderExt::basic_auth`, the
//! caller's own header winning, and credentials kept within one origin across redirects.

mod client_support;

use bytes::Bytes;
use client_support::{response, serve, within, Server};
use quasar_http::client::{HttpClient, RequestBuilderExt};

/// Answers with the request target and the `Authorization` it got; `/away` redirects to
/// the URL in its query.
async fn auth_server() -> Server {
    serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            if req.path() == "/away" {
                let to = req.head.parts.uri.query().unwrap_or("").to_owned();
                let head = format!("location: {to}\r\n");
                conn.write(response(302, &head, "").as_bytes()).await;
                continue;
            }
            let seen = format!(
                "{} {}",
                req.head.parts.uri,
                req.header("authorization").unwrap_or("-")
            );
            conn.write(response(200, "", &seen).as_bytes()).await;
        }
    })
    .await
}

async fn seen(client: &HttpClient, req: http::Request<Bytes>) -> String {
    let res = within("request", client.request(req)).await.unwrap();
    String::from_utf8(res.body().to_vec()).unwrap()
}

#[tokio::test]
async fn url_user_info_becomes_basic_auth_and_never_goes_on_the_wire() {
    let server = auth_server().await;
    let client = HttpClient::new();
    let url = format!("http://al%40x:open%20sesame@{}/private", server.addr);
    let res = within("GET", client.get(&url)).await.unwrap();
    // base64("al@x:open sesame")
    assert_eq!(&res.body()[..], b"/private Basic YWxAeDpvcGVuIHNlc2FtZQ==");

    let req = http::Request::get(server.url("/call"))
        .basic_auth("user", Some("pw"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(seen(&client, req).await, "/call Basic dXNlcjpwdw==");

    // The caller's own header wins over the user info.
    let req = http::Request::get(url)
        .bearer_auth("t0ken")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(seen(&client, req).await, "/private Bearer t0ken");
}

#[tokio::test]
async fn credentials_stay_within_their_origin_across_redirects() {
    let a = auth_server().await;
    let b = auth_server().await;
    let client = HttpClient::new();
    let same = format!("/away?{}", a.url("/landing"));
    let req = http::Request::get(a.url(&same))
        .basic_auth("u", Some("p"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(seen(&client, req).await, "/landing Basic dTpw");
    let other = format!("/away?{}", b.url("/landing"));
    let req = http::Request::get(a.url(&other))
        .basic_auth("u", Some("p"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(seen(&client, req).await, "/landing -");
}
