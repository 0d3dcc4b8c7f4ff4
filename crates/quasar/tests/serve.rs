//! The `quasar serve` command, run as a user would: spawn the binary, read the bound
//! address from stdout, talk to it over loopback, stop it with SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

mod served;

use served::{echo, serve, Served};

/// `quasar ARGS` with its first `expect_lines` lines read (warnings and errors logged only).
fn spawn(args: &[&str], expect_lines: usize) -> Served {
    serve(args, &[("RUST_LOG", "warn")], expect_lines)
}

#[test]
fn serve_echo_prints_its_address_echoes_and_stops_on_sigterm() {
    let server = spawn(&["serve", "echo", "--bind", "127.0.0.1:0"], 1);
    let addr = server.addr("echo tcp");
    assert_ne!(addr.port(), 0, "the real port is printed");
    assert_eq!(echo(addr, b"hello\r\n\r\n"), b"hello\r\n\r\n");
    let status = server.terminate();
    assert!(status.success(), "graceful exit, got {status:?}");
}

#[test]
fn serve_echo_raw_mode_echoes_unframed_bytes() {
    let server = spawn(&["serve", "echo", "--bind", "127.0.0.1:0", "--raw"], 1);
    assert_eq!(
        echo(server.addr("echo tcp"), b"no separator"),
        b"no separator"
    );
    assert!(server.terminate().success());
}

#[test]
fn serve_echo_with_workers_serves_every_connection() {
    let server = spawn(
        &["serve", "echo", "--bind", "127.0.0.1:0", "--workers", "2"],
        1,
    );
    let addr = server.addr("echo tcp");
    for i in 0..8 {
        let msg = format!("worker test {i}\r\n\r\n");
        assert_eq!(echo(addr, msg.as_bytes()), msg.as_bytes());
    }
    assert!(server.terminate().success());
}

#[test]
#[ignore = "binds the default ports 8060, 8061, 8070, 6410 and 8080; run with --include-ignored"]
fn serve_with_no_arguments_starts_the_default_echo_server_on_8060() {
    // The documented default ports, which anything else on the machine may hold: the test is
    // opt-in, and then a busy port fails it rather than letting it pass unchecked.
    let busy = "is busy: stop what holds it to run this test";
    assert!(
        std::net::TcpListener::bind("127.0.0.1:8060").is_ok(),
        "tcp 8060 {busy}"
    );
    assert!(
        std::net::UdpSocket::bind("127.0.0.1:8060").is_ok(),
        "udp 8060 {busy}"
    );
    for port in [8061, 8070, 6410, 8080] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "tcp {port} {busy}"
        );
    }
    let server = spawn(&["serve"], 6);
    assert_eq!(server.addr("chat tcp"), "127.0.0.1:8061".parse().unwrap());
    assert!(
        !server.lines.iter().any(|l| l.starts_with("tunnel")),
        "the tunnel needs an upstream: not started by default"
    );
    assert_eq!(
        server.addr("http tcp"),
        "127.0.0.1:8070".parse().unwrap(),
        "plain `quasar serve` starts the HTTP demo too"
    );
    assert_eq!(server.addr("resp tcp"), "127.0.0.1:6410".parse().unwrap());
    assert_eq!(server.addr("proxy tcp"), "127.0.0.1:8080".parse().unwrap());
    let addr = server.addr("echo tcp");
    assert_eq!(addr, "127.0.0.1:8060".parse().unwrap());
    assert_eq!(echo(addr, b"hello\r\n\r\n"), b"hello\r\n\r\n");
    let udp = server.addr("udp-echo udp");
    assert_eq!(udp, "127.0.0.1:8060".parse().unwrap());
    assert_eq!(udp_lines(udp, b"ping"), vec![b"ping".to_vec()]);
    assert!(server.terminate().success());
}

#[test]
fn serve_http_answers_hello_world() {
    let server = spawn(&["serve", "http", "--bind", "127.0.0.1:0"], 1);
    let addr = server.addr("http tcp");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("content-type: text/plain\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nHello, World!"), "{out}");
    assert!(server.terminate().success());
}

fn udp_lines(addr: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.connect(addr).unwrap();
    sock.send(datagram).unwrap();
    let expected = datagram
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let mut replies = Vec::new();
    let mut buf = [0u8; 65536];
    for _ in 0..expected {
        let n = sock.recv(&mut buf).expect("a reply datagram");
        replies.push(buf[..n].to_vec());
    }
    replies
}

#[test]
fn serve_udp_echo_answers_each_line_with_a_datagram() {
    for extra in [&[][..], &["--no-batching"], &["--workers", "2"]] {
        let mut args = vec!["serve", "udp-echo", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let server = spawn(&args, 1);
        let addr = server.addr("udp-echo udp");
        assert_ne!(addr.port(), 0);
        assert_eq!(
            udp_lines(addr, b"one\ntwo\nthree"),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
            "{extra:?}"
        );
        assert!(server.terminate().success(), "{extra:?}");
    }
}

#[test]
fn bad_flags_exit_with_status_2_and_a_message() {
    for args in [
        &["serve", "echo", "--bogus"][..],
        &["serve", "echo", "--bind", "not-an-address"],
        &["serve", "echo", "--max-message-size", "0"],
        &["serve", "nosuchprotocol"],
        &["serve", "udp-echo", "--max-datagram-size", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
            .args(args)
            .output()
            .expect("quasar runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn bind_error_names_the_address_and_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args(["serve", "echo", "--bind", &addr])
        .output()
        .expect("quasar runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr), "{err}");
}

#[test]
fn sigterm_right_after_the_address_line_closes_gracefully() {
    // The signal handlers are installed before any address is printed: a script that
    // reads the address and signals at once gets exit 0, never the default action.
    for args in [
        &[
            "serve",
            "udp-echo",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
        ][..],
        &["serve", "echo", "--bind", "127.0.0.1:0"],
    ] {
        for _ in 0..5 {
            let server = spawn(args, 1);
            assert!(server.terminate().success(), "{args:?}");
        }
    }
}

fn resp(addr: SocketAddr, request: &[u8], reply_len: usize) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(request).unwrap();
    let mut reply = vec![0u8; reply_len];
    sock.read_exact(&mut reply).expect("resp reply");
    reply
}

#[test]
fn serve_resp_prints_its_address_and_answers_redis_commands() {
    let server = spawn(
        &["serve", "resp", "--bind", "127.0.0.1:0", "--workers", "2"],
        1,
    );
    let addr = server.addr("resp tcp");
    assert_eq!(
        resp(addr, b"SET k v\r\nGET k\r\nPING\r\n", 19),
        b"+OK\r\n$1\r\nv\r\n+PONG\r\n"
    );
    // A second connection (maybe on the other worker) sees the same keyspace.
    assert_eq!(resp(addr, b"GET k\r\n", 7), b"$1\r\nv\r\n");
    assert!(server.terminate().success());
}

#[test]
fn serve_resp_requirepass_demands_auth() {
    let server = spawn(
        &[
            "serve",
            "resp",
            "--bind",
            "127.0.0.1:0",
            "--requirepass",
            "s3cret",
        ],
        1,
    );
    let addr = server.addr("resp tcp");
    assert_eq!(
        resp(addr, b"GET k\r\n", 34),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        resp(addr, b"AUTH s3cret\r\nGET k\r\n", 10),
        b"+OK\r\n$-1\r\n"
    );
    assert!(server.terminate().success());
}

/// Runs `redis-cli -p PORT args...` and returns its stdout; a missing redis-cli fails the
/// test saying what to install.
fn redis_cli(addr: SocketAddr, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("redis-cli: {e}: apt-get install redis-tools (or run .ci/run)"));
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("redis-cli");
    assert!(out.status.success(), "redis-cli {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn serve_resp_maxmemory_refuses_writes_past_the_limit_for_redis_cli() {
    let server = spawn(
        &[
            "serve",
            "resp",
            "--bind",
            "127.0.0.1:0",
            "--maxmemory",
            "1mb",
        ],
        1,
    );
    let addr = server.addr("resp tcp");
    let config = redis_cli(addr, &["CONFIG", "GET", "maxmemory"], None);
    assert_eq!(config, "maxmemory\n1048576\n");
    // 2,000 values of 1 KiB through one redis-cli: the first ~1,000 fit, the rest are
    // refused with Redis's OOM error.
    let value = "v".repeat(1024);
    let script: String = (0..2000)
        .map(|i| format!("SET key:{i} {value}\n"))
        .collect();
    let out = redis_cli(addr, &[], Some(script.as_bytes()));
    let ok = out.lines().filter(|l| *l == "OK").count();
    let oom = out
        .lines()
        .filter(|l| l.contains("OOM command not allowed when used memory > 'maxmemory'."))
        .count();
    assert_eq!(ok + oom, 2000, "{}", &out[..out.len().min(500)]);
    assert!((900..1024).contains(&ok), "{ok} stored");
    let info = redis_cli(addr, &["INFO", "memory"], None);
    assert!(info.contains("maxmemory:1048576"), "{info}");
    assert!(info.contains("maxmemory_policy:noeviction"), "{info}");
    // Reads and deletes still work; a delete makes room again.
    assert_eq!(redis_cli(addr, &["GET", "key:0"], None).len(), 1025);
    assert_eq!(redis_cli(addr, &["DEL", "key:0", "key:1"], None), "2\n");
    assert_eq!(redis_cli(addr, &["SET", "a", "1"], None), "OK\n");
    assert!(server.terminate().success());
}

#[test]
fn serve_resp_allkeys_lru_evicts_instead_of_refusing() {
    let server = spawn(
        &[
            "serve",
            "resp",
            "--bind",
            "127.0.0.1:0",
            "--maxmemory",
            "1mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ],
        1,
    );
    let addr = server.addr("resp tcp");
    let value = "v".repeat(1024);
    let script: String = (0..3000)
        .map(|i| format!("SET key:{i} {value}\n"))
        .collect();
    let out = redis_cli(addr, &[], Some(script.as_bytes()));
    assert_eq!(out.lines().filter(|l| *l == "OK").count(), 3000);
    let info = redis_cli(addr, &["INFO"], None);
    let field = |name: &str| -> usize {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    assert!(field("used_memory:") <= 1024 * 1024 + 2048);
    assert!(field("evicted_keys:") >= 1900);
    assert!(server.terminate().success());
}

#[test]
fn serve_resp_rejects_a_bad_maxmemory() {
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args([
            "serve",
            "resp",
            "--bind",
            "127.0.0.1:0",
            "--maxmemory",
            "lots",
        ])
        .output()
        .expect("run quasar");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--maxmemory"));
}

#[test]
fn serve_tunnel_relays_to_an_echo_server_and_passes_the_half_close_on() {
    let echo_server = spawn(&["serve", "echo", "--bind", "127.0.0.1:0", "--raw"], 1);
    let upstream = echo_server.addr("echo tcp").to_string();
    let tunnel = spawn(
        &[
            "serve",
            "tunnel",
            "--bind",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
        ],
        1,
    );
    // `printf ping | nc -N`: the request, then the client's FIN; the reply still comes
    // back, then the tunnel closes.
    let mut sock = TcpStream::connect(tunnel.addr("tunnel tcp")).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"ping").unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).expect("a reply, then EOF");
    assert_eq!(reply, b"ping");
    assert!(tunnel.terminate().success());
    assert!(echo_server.terminate().success());
}

#[test]
fn serve_tunnel_without_an_upstream_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_quasar"))
        .args(["serve", "tunnel", "--bind", "127.0.0.1:0"])
        .output()
        .expect("quasar runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));
}

/// Sends SIGTERM (or SIGINT) to the server's process.
#[test]
fn sigterm_closes_idle_and_silent_connections_at_once() {
    let server = spawn(&["serve", "echo", "--bind", "127.0.0.1:0"], 1);
    let addr = server.addr("echo tcp");
    // One connection idle after an exchange, one that never sent a byte; both stay
    // open on the client's side and never read again.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(b"hi\r\n\r\n").unwrap();
    let mut reply = [0u8; 6];
    idle.read_exact(&mut reply).unwrap();
    let _silent = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = std::time::Instant::now();
    server.send_signal("-TERM");
    let status = server.wait(Duration::from_secs(15)).0;
    assert!(status.success());
    // Not the 10 s shutdown deadline, nor the 3 s wait for a peer's FIN.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "exited after {:?}",
        start.elapsed()
    );
}

#[test]
fn a_second_signal_ends_the_process_at_once() {
    let mut server = spawn(&["serve", "echo", "--bind", "127.0.0.1:0"], 1);
    // A request in flight (half a message): the first signal waits for it.
    let mut busy = TcpStream::connect(server.addr("echo tcp")).unwrap();
    busy.write_all(b"half a mess").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.send_signal("-TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the first signal waits for the request"
    );
    let start = std::time::Instant::now();
    server.send_signal("-INT");
    let status = server.wait(Duration::from_secs(15)).0;
    assert!(status.success());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "exited {:?} after the second signal",
        start.elapsed()
    );
}

/// Reads one `\n`-ended line.
fn line(sock: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while sock.read(&mut b).expect("a line") == 1 && b[0] != b'\n' {
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn serve_chat_greets_announces_and_relays_lines() {
    let server = spawn(&["serve", "chat", "--bind", "127.0.0.1:0"], 1);
    let addr = server.addr("chat tcp");
    let connect = || {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let mut a = connect();
    assert_eq!(line(&mut a), "welcome, you are user1");
    let mut b = connect();
    assert_eq!(line(&mut b), "welcome, you are user2");
    assert_eq!(line(&mut a), "* user2 joined");
    b.write_all(b"hello\r\n").unwrap();
    assert_eq!(line(&mut a), "user2: hello");
    // nc -N: the member half-closes and leaves.
    b.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(line(&mut a), "* user2 left");
    assert!(server.terminate().success());
}
