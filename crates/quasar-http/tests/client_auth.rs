//! Basic authentication against a real server: from the URL's user info (percent-escapes
//! decoded, never sent in the request line), from `RequestBuilderExt::basic_auth`, the
//! caller's own header winning, credentials kept within one origin across redirects, and
//! Digest (RFC 7616) answering a server's challenge that the test server checks itself.

use crate::client_support;

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

/// `name="value"` or `name=value` out of an `Authorization: Digest ...` value.
fn field<'a>(header: &'a str, name: &str) -> &'a str {
    let start = header.find(&format!("{name}=")).expect(name) + name.len() + 1;
    let rest = &header[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap()],
        None => rest.split(',').next().unwrap().trim(),
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A server that wants Digest (SHA-256 and MD5 offered) for `alice`/`wonder land`, checks
/// the answer itself, and counts the requests it got.
async fn digest_server() -> Server {
    serve(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let challenge = "www-authenticate: Digest realm=\"test\", qop=\"auth\", \
                             algorithm=MD5, nonce=\"n0nce\", opaque=\"op\"\r\n\
                             www-authenticate: Digest realm=\"test\", qop=\"auth\", \
                             algorithm=SHA-256, nonce=\"n0nce\", opaque=\"op\"\r\n";
            let Some(auth) = req.header("authorization").map(str::to_owned) else {
                conn.write(response(401, challenge, "").as_bytes()).await;
                continue;
            };
            let ha1 = sha256_hex("alice:test:wonder land");
            let ha2 = sha256_hex(&format!("{}:{}", req.method(), field(&auth, "uri")));
            let expected = sha256_hex(&format!(
                "{ha1}:n0nce:{}:{}:auth:{ha2}",
                field(&auth, "nc"),
                field(&auth, "cnonce")
            ));
            let ok = field(&auth, "algorithm") == "SHA-256"
                && field(&auth, "opaque") == "op"
                && req.head.parts.uri == field(&auth, "uri")
                && field(&auth, "response") == expected;
            if ok {
                conn.write(response(200, "", "welcome").as_bytes()).await;
            } else {
                conn.write(response(401, challenge, "").as_bytes()).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn digest_credentials_answer_the_servers_challenge() {
    let server = digest_server().await;
    let client = HttpClient::new();
    let req = http::Request::get(server.url("/secret?x=1"))
        .digest_auth("alice", "wonder land")
        .body(Bytes::new())
        .unwrap();
    let res = within("digest", client.request(req)).await.unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"welcome"[..])
    );
    assert_eq!(client.requests_processed(), 2, "one challenge, one answer");

    // A wrong password: the second 401 is the answer, and nothing loops.
    let req = http::Request::post(server.url("/secret"))
        .digest_auth("alice", "wrong")
        .body(Bytes::from_static(b"data"))
        .unwrap();
    let res = within("wrong digest", client.request(req)).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(client.requests_processed(), 4);

    // Without credentials the 401 comes back as it is.
    let res = within("none", client.get(&server.url("/secret")))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(client.requests_processed(), 5);
}
