//! Server-wide hooks: fired for every connection and request, never fatal when they
//! fail, and able to abort a request from `pre_request`.

use crate::core_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use core_support::{read_n, read_to_end, within, Conns, LineEcho};
use quasar_net::{Error, Hooks, TcpServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type Log = Arc<Mutex<Vec<String>>>;

/// Hooks that log every event as `"<session> <event> <detail>"`.
fn logging_hooks(log: &Log) -> Hooks {
    let mut hooks = Hooks::default();
    let l = Arc::clone(log);
    hooks.on_connection_made(move |ev| {
        l.lock().unwrap().push(format!("{} made", ev.session));
        Ok(())
    });
    let l = Arc::clone(log);
    hooks.on_pre_request(move |ev| {
        l.lock()
            .unwrap()
            .push(format!("{} pre {}", ev.session, ev.request));
        Ok(())
    });
    let l = Arc::clone(log);
    hooks.on_post_request(move |ev| {
        let outcome = ev.error.map_or("ok".to_string(), |e| e.to_string());
        l.lock()
            .unwrap()
            .push(format!("{} post {} {outcome}", ev.session, ev.request));
        Ok(())
    });
    let l = Arc::clone(log);
    hooks.on_data_received(move |ev| {
        l.lock().unwrap().push(format!(
            "{} received {:?}",
            ev.session,
            String::from_utf8_lossy(ev.data)
        ));
        Ok(())
    });
    let l = Arc::clone(log);
    hooks.on_data_processed(move |ev| {
        l.lock().unwrap().push(format!(
            "{} processed {:?}",
            ev.session,
            String::from_utf8_lossy(ev.data)
        ));
        Ok(())
    });
    let l = Arc::clone(log);
    hooks.on_connection_lost(move |ev| {
        let outcome = ev.error.map_or("clean".to_string(), |e| e.to_string());
        l.lock()
            .unwrap()
            .push(format!("{} lost {outcome}", ev.session));
        Ok(())
    });
    hooks
}

fn events_of(log: &Log, session: u64) -> Vec<String> {
    let prefix = format!("{session} ");
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|e| e.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

async fn wait_for_event(log: &Log, event: &str) {
    core_support::wait_until(event, || log.lock().unwrap().iter().any(|e| e == event)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_hooks_fire_for_every_connection_and_request_in_order() {
    let log = Log::default();
    let server = TcpServer::builder(|| LineEcho)
        .hooks(logging_hooks(&log))
        .start()
        .await
        .unwrap();

    let mut one = TcpStream::connect(server.address()).await.unwrap();
    one.write_all(b"a\nb\n").await.unwrap();
    assert_eq!(read_n(&mut one, 4).await, b"a\nb\n");
    drop(one);
    wait_for_event(&log, "1 lost clean").await;

    let mut two = TcpStream::connect(server.address()).await.unwrap();
    two.write_all(b"c\n").await.unwrap();
    assert_eq!(read_n(&mut two, 2).await, b"c\n");
    drop(two);
    wait_for_event(&log, "2 lost clean").await;

    assert_eq!(
        events_of(&log, 1),
        [
            "made",
            "received \"a\\nb\\n\"",
            "pre 1",
            "post 1 ok",
            "pre 2",
            "post 2 ok",
            "processed \"a\\nb\\n\"",
            "lost clean",
        ]
    );
    assert_eq!(
        events_of(&log, 2),
        [
            "made",
            "received \"c\\n\"",
            "pre 1",
            "post 1 ok",
            "processed \"c\\n\"",
            "lost clean",
        ]
    );
    within("close", server.close(Duration::from_secs(2))).await;
}

/// Collects what the `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime, so the server's tasks log through this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_failing_hook_is_logged_and_the_connection_carries_on() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let lost = Log::default();
    let mut hooks = Hooks::default();
    hooks
        .on_connection_made(|_| Err("made hook fails".into()))
        .on_pre_request(|_| Err(Box::new(Error::protocol("not an abort"))))
        .on_post_request(|_| Err("post hook fails".into()))
        .on_data_received(|_| Err("received hook fails".into()))
        .on_data_processed(|_| Err("processed hook fails".into()))
        .on_connection_lost(|_| Err("lost hook fails".into()));
    let l = Arc::clone(&lost);
    // A later hook on the same event still runs after a failing one.
    hooks.on_connection_lost(move |ev| {
        l.lock()
            .unwrap()
            .push(format!("{} lost {}", ev.session, ev.error.is_none()));
        Ok(())
    });
    let server = TcpServer::builder(|| LineEcho)
        .hooks(hooks)
        .start()
        .await
        .unwrap();

    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    for line in [&b"one\n"[..], b"two\n"] {
        sock.write_all(line).await.unwrap();
        assert_eq!(read_n(&mut sock, 4).await, line);
    }
    drop(sock);
    wait_for_event(&lost, "1 lost true").await;
    assert_eq!(server.requests_processed(), 2);
    within("close", server.close(Duration::from_secs(2))).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for failure in [
        "made hook fails",
        "not an abort",
        "post hook fails",
        "received hook fails",
        "processed hook fails",
        "lost hook fails",
    ] {
        assert!(
            logs.lines()
                .any(|l| l.contains("WARN") && l.contains("hook failed") && l.contains(failure)),
            "{failure:?} not logged in:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_request_abort_aborts_the_request_and_closes_the_connection() {
    let log = Log::default();
    let mut hooks = logging_hooks(&log);
    // Abort the second request of every connection.
    hooks.on_pre_request(|ev| {
        if ev.request == 2 {
            return Err(Box::new(Error::aborted("second request refused")));
        }
        Ok(())
    });
    let post_errors = Arc::new(Mutex::new(Vec::new()));
    let p = Arc::clone(&post_errors);
    hooks.on_post_request(move |ev| {
        p.lock().unwrap().push(ev.error.map(|e| e.is_aborted()));
        Ok(())
    });
    let conns = Conns::default();
    let server = TcpServer::builder(conns.record(|| LineEcho))
        .hooks(hooks)
        .start()
        .await
        .unwrap();

    let mut sock = TcpStream::connect(server.address()).await.unwrap();
    sock.write_all(b"first\nsecond\nthird\n").await.unwrap();
    let (got, end) = read_to_end(&mut sock).await;
    assert_eq!(
        got, b"first\n",
        "no response to the aborted request or after it"
    );
    end.expect("clean EOF");
    drop(sock);

    let err = within(
        "connection_lost",
        conns.session(1).await.connection_lost().wait(),
    )
    .await
    .unwrap_err();
    assert!(err.is_aborted(), "{err}");
    assert_eq!(*post_errors.lock().unwrap(), [None, Some(true)]);
    let events = events_of(&log, 1);
    assert!(
        events.contains(&"post 2 request aborted: second request refused".to_string()),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.starts_with("pre 3")), "{events:?}");
    within("close", server.close(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_writing_hooks_fire_around_a_slow_reader() {
    let flow = Log::default();
    let mut hooks = Hooks::default();
    let f = Arc::clone(&flow);
    hooks.on_pause_writing(move |ev| {
        f.lock().unwrap().push(format!("{} pause", ev.session));
        Ok(())
    });
    let f = Arc::clone(&flow);
    hooks.on_resume_writing(move |ev| {
        f.lock().unwrap().push(format!("{} resume", ev.session));
        Ok(())
    });
    let marks = quasar_net::flow_control::WaterMarks::new(4 * 1024, 16 * 1024).unwrap();
    let server = TcpServer::builder(|| LineEcho)
        .listener(core_support::listener_with_small_buffers())
        .water_marks(marks)
        .hooks(hooks)
        .start()
        .await
        .unwrap();
    let sock = core_support::connect_with_small_buffers(server.address()).await;
    let (mut rd, mut wr) = sock.into_split();

    let line = [vec![b'x'; 1023], vec![b'\n']].concat();
    let lines = 256;
    let writer = tokio::spawn(async move {
        for _ in 0..lines {
            wr.write_all(&line).await.unwrap();
        }
        wr
    });
    wait_for_event(&flow, "1 pause").await;
    assert_eq!(
        *flow.lock().unwrap(),
        ["1 pause"],
        "paused, not yet resumed"
    );

    // Now read everything: the buffer drains and writing resumes.
    let mut got = vec![0u8; 1024 * lines];
    within(
        "every echo",
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut got),
    )
    .await
    .unwrap();
    assert!(got
        .chunks(1024)
        .all(|l| l[..1023].iter().all(|&b| b == b'x') && l[1023] == b'\n'));
    let wr = writer.await.unwrap();
    wait_for_event(&flow, "1 resume").await;
    let events = flow.lock().unwrap().clone();
    assert!(
        events.chunks(2).all(|p| p == ["1 pause", "1 resume"]),
        "pauses and resumes alternate: {events:?}"
    );
    drop((rd, wr));
    within("close", server.close(Duration::from_secs(2))).await;
}
