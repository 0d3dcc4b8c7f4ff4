//! Server commands: HELLO, INFO, CLIENT, COMMAND, CONFIG.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::commands::{args, COMMANDS, PUBSUB, WRITE};
use super::dispatch::Call;
use super::glob;
use super::store::Keyspace;

/// The Redis version this server's command set and replies follow.
pub(crate) const REDIS_VERSION: &str = "7.0.0";

pub(crate) fn hello(c: &mut Call<'_, '_>, a: &[Bytes]) {
    let mut proto = None;
    if let Some(v) = a.get(1) {
        match args::int(v) {
            Some(v @ 2..=3) => proto = Some(v),
            Some(_) => return c.reply().error("NOPROTO unsupported protocol version"),
            None => {
                return c
                    .reply()
                    .error("ERR Protocol version is not an integer or out of range")
            }
        }
    }
    let mut i = 2;
    let mut name = None;
    while i < a.len() {
        if args::is(&a[i], "AUTH") && i + 2 < a.len() {
            if let Err(e) = c.check_auth(Some(&a[i + 1]), &a[i + 2]) {
                return c.reply().error(e);
            }
            i += 3;
        } else if args::is(&a[i], "SETNAME") && i + 1 < a.len() {
            name = Some(a[i + 1].clone());
            i += 2;
        } else {
            return c.reply().error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            ));
        }
    }
    if !c.st.authed {
        return c.reply().error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        if !valid_name(&n) {
            return c.reply().error(BAD_NAME);
        }
        c.sess.meta.lock().name = (!n.is_empty()).then(|| Bytes::copy_from_slice(&n));
    }
    if let Some(p) = proto {
        c.sess.resp3.store(p == 3, Ordering::Relaxed);
    }
    let id = c.sess.id;
    let resp3 = c.sess.is_resp3();
    let mut r = c.reply();
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(if resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(i64::try_from(id).unwrap_or(i64::MAX));
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// A text reply: verbatim in RESP3, bulk in RESP2 (as Redis sends `INFO` and
/// `CLIENT LIST`).
fn text(c: &mut Call<'_, '_>, s: &str) {
    if c.sess.is_resp3() {
        let out = &mut *c.out;
        let _ = write!(Wrap(out), "={}\r\ntxt:", s.len() + 4);
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        c.reply().bulk(s.as_bytes());
    }
}

struct Wrap<'a>(&'a mut bytes::BytesMut);

impl std::fmt::Write for Wrap<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub(crate) fn info(c: &mut Call<'_, '_>, a: &[Bytes], ks: Option<&mut Keyspace<'_>>) {
    let wanted: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let want = |s: &str| all || wanted.iter().any(|w| w == s);
    let sh = c.sh;
    let mut out = String::new();
    if want("server") {
        section(&mut out, "Server");
        let up = sh.started.elapsed().as_secs();
        let port = c.sess.conn.local_address().port();
        let _ = write!(
            out,
            "redis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:tokio\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nexecutable:quasar\r\nquasar_version:{}\r\n",
            std::env::consts::OS,
            std::process::id(),
            up / 86400,
            env!("CARGO_PKG_VERSION"),
        );
    }
    if want("clients") {
        section(&mut out, "Clients");
        let n = sh.clients.lock().len();
        let _ = write!(
            out,
            "connected_clients:{n}\r\nblocked_clients:{}\r\nmaxclients:10000\r\n",
            sh.blocked.load(Ordering::Relaxed)
        );
    }
    // Keyspace counts and memory need the shards: inside EXEC they are all held already.
    match ks {
        Some(ks) => info_keyspace(c, &want, &mut out, ks),
        None => info_keyspace(c, &want, &mut out, &mut sh.store.lock_all(c.st.db)),
    }
    text(c, &out);
}

/// A byte count as Redis's `*_human` fields show it (`0B`, `1.50K`, `1.00M`).
fn human(n: usize) -> String {
    let n = n as f64;
    match n {
        n if n < 1024.0 => format!("{n}B"),
        n if n < 1024.0 * 1024.0 => format!("{:.2}K", n / 1024.0),
        n if n < 1024.0 * 1024.0 * 1024.0 => format!("{:.2}M", n / (1024.0 * 1024.0)),
        n => format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0)),
    }
}

fn section(out: &mut String, title: &str) {
    if !out.is_empty() {
        out.push_str("\r\n");
    }
    let _ = write!(out, "# {title}\r\n");
}

fn info_keyspace(
    c: &Call<'_, '_>,
    want: &dyn Fn(&str) -> bool,
    out: &mut String,
    ks: &mut Keyspace<'_>,
) {
    let sh = c.sh;
    let out = &mut *out;
    if want("memory") {
        section(out, "Memory");
        let used = sh.store.used_memory();
        let max = sh.config.maxmemory;
        let _ = write!(
            out,
            "used_memory:{used}\r\nused_memory_human:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n",
            human(used),
            human(max),
            sh.config.maxmemory_policy.as_str(),
        );
    }
    if want("stats") {
        section(out, "Stats");
        let st = &sh.store.stats;
        let (ch, pat) = sh.pubsub.counts();
        let _ = write!(
            out,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{ch}\r\npubsub_patterns:{pat}\r\n",
            sh.connections.load(Ordering::Relaxed),
            sh.commands.load(Ordering::Relaxed),
            st.expired.load(Ordering::Relaxed),
            st.evicted.load(Ordering::Relaxed),
            st.hits.load(Ordering::Relaxed),
            st.misses.load(Ordering::Relaxed),
        );
    }
    if want("keyspace") {
        section(out, "Keyspace");
        for db in 0..sh.store.databases() {
            let (keys, expires) = ks.counts(db);
            if keys > 0 {
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
    }
    ks.db = c.st.db;
}

pub(crate) fn client(c: &mut Call<'_, '_>, a: &[Bytes]) {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let arity_ok = match sub.as_str() {
        "setname" => a.len() == 3,
        "getname" | "id" | "info" => a.len() == 2,
        "list" => a.len() >= 2,
        "setinfo" => a.len() == 4,
        _ => true,
    };
    if !arity_ok {
        return c.reply().error(&format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        ));
    }
    match sub.as_str() {
        "setname" => {
            if !valid_name(&a[2]) {
                return c.reply().error(BAD_NAME);
            }
            c.sess.meta.lock().name = (!a[2].is_empty()).then(|| Bytes::copy_from_slice(&a[2]));
            c.reply().ok();
        }
        "getname" => {
            let name = c.sess.meta.lock().name.clone();
            c.reply().opt_bulk(name.as_deref());
        }
        "id" => {
            let id = c.sess.id;
            c.reply().int(i64::try_from(id).unwrap_or(i64::MAX));
        }
        // Library name and version (redis-py sends them on connect): accepted, not kept.
        "setinfo" => c.reply().ok(),
        "list" | "info" => {
            let sessions: Vec<_> = if sub == "info" {
                vec![c.sess.clone()]
            } else {
                let mut v: Vec<_> = c.sh.clients.lock().values().cloned().collect();
                v.sort_by_key(|s| s.id);
                v
            };
            let now = Instant::now();
            let now_ms = super::store::now_ms();
            let mut out = String::new();
            for s in sessions {
                let m = s.meta.lock();
                let _ = writeln!(
                    out,
                    "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} multi={} cmd={} user=default resp={}",
                    s.id,
                    s.conn.address(),
                    s.conn.local_address(),
                    String::from_utf8_lossy(m.name.as_deref().unwrap_or(b"")),
                    now.duration_since(s.created).as_secs(),
                    now_ms.saturating_sub(s.last_active_ms.load(Ordering::Relaxed)) / 1000,
                    if s.subscriptions() > 0 { "P" } else { "N" },
                    s.db.load(Ordering::Relaxed),
                    s.subs.load(Ordering::Relaxed),
                    s.psubs.load(Ordering::Relaxed),
                    m.in_multi.map_or(-1, |n| n as i64),
                    super::commands::name_at(s.last_cmd.load(Ordering::Relaxed)),
                    if s.is_resp3() { 3 } else { 2 },
                );
            }
            text(c, &out);
        }
        _ => c.reply().error(&format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&a[1])
        )),
    }
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND INFO`, `COMMAND LIST`, `COMMAND DOCS` (empty:
/// redis-cli then uses its built-in hints).
pub(crate) fn command(c: &mut Call<'_, '_>, a: &[Bytes]) {
    let sub = a
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    match sub.as_deref() {
        None => {
            c.reply().array(COMMANDS.len());
            for s in COMMANDS {
                command_entry(c, s);
            }
        }
        Some("count") => c.reply().uint(COMMANDS.len()),
        Some("list") => {
            c.reply().array(COMMANDS.len());
            for s in COMMANDS {
                c.reply().bulk(s.name.as_bytes());
            }
        }
        Some("info") => {
            c.reply().array(a.len() - 2);
            for n in &a[2..] {
                match super::commands::lookup(n) {
                    Some(s) => command_entry(c, s),
                    None => c.reply().null(),
                }
            }
        }
        Some("docs") => c.reply().map(0),
        Some(_) => c.reply().error(&format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&a[1])
        )),
    }
}

fn command_entry(c: &mut Call<'_, '_>, s: &super::commands::Spec) {
    let mut r = c.reply();
    r.array(10);
    r.bulk(s.name.as_bytes());
    r.int(i64::from(s.arity));
    let mut flags = vec![if s.has(WRITE) { "write" } else { "readonly" }];
    if s.has(PUBSUB) {
        flags.push("pubsub");
    }
    r.set(flags.len());
    for f in flags {
        r.simple(f);
    }
    r.int(i64::from(s.first));
    r.int(i64::from(s.last));
    r.int(i64::from(s.step));
    r.set(0);
    r.set(0);
    r.array(0);
    r.array(0);
}

/// `CONFIG GET` for the parameters clients ask about (redis-benchmark reads `save` and
/// `appendonly`); `CONFIG SET` is refused, `CONFIG RESETSTAT` accepted.
pub(crate) fn config(c: &mut Call<'_, '_>, a: &[Bytes]) {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if a.len() >= 3 => {
            let dbs = c.sh.store.databases().to_string();
            let maxmemory = c.sh.config.maxmemory.to_string();
            let params: [(&str, &str); 7] = [
                ("save", ""),
                ("appendonly", "no"),
                ("databases", &dbs),
                ("maxmemory", &maxmemory),
                ("maxmemory-policy", c.sh.config.maxmemory_policy.as_str()),
                ("timeout", "0"),
                ("port", ""),
            ];
            let port = c.sess.conn.local_address().port().to_string();
            let found: Vec<(&str, &str)> = params
                .iter()
                .filter(|(k, _)| {
                    a[2..]
                        .iter()
                        .any(|p| glob::matches(&p.to_ascii_lowercase(), k.as_bytes()))
                })
                .map(|&(k, v)| (k, if k == "port" { port.as_str() } else { v }))
                .collect();
            let mut r = c.reply();
            r.map(found.len());
            for (k, v) in found {
                r.bulk(k.as_bytes());
                r.bulk(v.as_bytes());
            }
        }
        "resetstat" if a.len() == 2 => c.reply().ok(),
        "get" | "resetstat" | "set" => {
            if sub == "set" && a.len() >= 4 {
                c.reply().error(&format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(&a[2])
                ));
            } else {
                c.reply().error(&format!(
                    "ERR wrong number of arguments for 'config|{sub}' command"
                ));
            }
        }
        _ => c.reply().error(&format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(&a[1])
        )),
    }
}
