//! Running one command for a session: checks in Redis's order (unknown command, arity,
//! authentication, subscribed mode, `MULTI` queuing), then the command itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quasar_net::Context;

use super::commands::{self, args, Exec, Spec, ALL, DENYOOM, NOAUTH, NO_MULTI, PUBSUB, TX, WRITE};
use super::config::MaxMemoryPolicy;
use super::reply::{Reply, SYNTAX};
use super::session::{Session, State};
use super::shared::Shared;
use super::store::Keyspace;

/// Redis's reply to a command that may add memory over `maxmemory` under `noeviction`.
pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
use super::{admin, blocking};

/// One command's run: the session, its state and the reply buffer.
pub(crate) struct Call<'a, 'c> {
    pub(crate) sh: &'a Arc<Shared>,
    pub(crate) sess: &'a Arc<Session>,
    pub(crate) st: &'a mut State,
    /// `None` inside `EXEC` replay, where nothing may block.
    pub(crate) cx: Option<&'a mut Context<'c>>,
    pub(crate) out: &'a mut BytesMut,
}

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    Close,
}

impl Call<'_, '_> {
    pub(crate) fn reply(&mut self) -> Reply<'_> {
        Reply {
            out: self.out,
            resp3: self.sess.is_resp3(),
        }
    }

    fn error(&mut self, msg: &str) {
        self.reply().error(msg);
    }

    /// Runs `args` (not empty) as a client command; a command queued by `MULTI` takes
    /// the vector, any other leaves it to be reused.
    pub(crate) fn command(&mut self, args: &mut Vec<Bytes>) -> After {
        let Some(spec) = commands::lookup(&args[0]) else {
            self.flag_multi_error();
            let msg = unknown_command(args);
            self.error(&msg);
            return After::Continue;
        };
        if !spec.arity_ok(args.len()) {
            self.flag_multi_error();
            self.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            return After::Continue;
        }
        if !self.st.authed && !spec.has(NOAUTH) {
            self.flag_multi_error();
            self.error("NOAUTH Authentication required.");
            return After::Continue;
        }
        if self.sess.subscriptions() > 0 && !self.sess.is_resp3() && !spec.has(PUBSUB) {
            self.error(&format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            ));
            return After::Continue;
        }
        self.sess.last_cmd.store(spec.index(), Ordering::Relaxed);
        // Checked when queued too, as Redis does: a refused command aborts the EXEC.
        if spec.has(DENYOOM) && !self.memory_ok() {
            self.flag_multi_error();
            self.error(OOM);
            return After::Continue;
        }
        if self.st.multi.is_some() && !spec.has(TX) {
            let len = command_len(args);
            if spec.has(NO_MULTI) {
                self.flag_multi_error();
                self.error("ERR Command not allowed inside a transaction");
            } else if self.st.multi_bytes + len > self.sh.config.limits.max_frame_len {
                // Redis has no bound here; one is kept so a client cannot queue without
                // limit: as many bytes as one command may hold.
                self.flag_multi_error();
                self.error("ERR MULTI queue too large");
            } else if let Some(queue) = &mut self.st.multi {
                self.st.multi_bytes += len;
                queue.push(std::mem::take(args));
                let n = queue.len();
                self.sess.meta.lock().in_multi = Some(n);
                self.reply().simple("QUEUED");
            }
            return After::Continue;
        }
        self.sh.commands.fetch_add(1, Ordering::Relaxed);
        self.execute(spec, args, None)
    }

    /// Whether a command that may add memory can run: under `maxmemory`, or brought
    /// under it by evicting (`allkeys-lru`). Runs before any shard is locked.
    fn memory_ok(&self) -> bool {
        let config = &self.sh.config;
        let store = &self.sh.store;
        if config.maxmemory == 0 || store.used_memory() <= config.maxmemory {
            return true;
        }
        match config.maxmemory_policy {
            MaxMemoryPolicy::AllKeysLru => store.evict_to(config.maxmemory),
            _ => false,
        }
    }

    fn flag_multi_error(&mut self) {
        if self.st.multi.is_some() {
            self.st.multi_error = true;
        }
    }

    /// Runs a command; `ks` holds every shard during `EXEC`.
    fn execute(
        &mut self,
        spec: &'static Spec,
        a: &[Bytes],
        ks: Option<&mut Keyspace<'_>>,
    ) -> After {
        if let Some(run) = spec.run {
            match ks {
                Some(ks) => {
                    ks.db = self.st.db;
                    self.run_keyed(ks, spec, run, a);
                }
                None => {
                    let sh = self.sh;
                    let store = &sh.store;
                    let mut ks = if spec.has(ALL) {
                        store.lock_all(self.st.db)
                    } else if let Some(key) = spec.single_key(a) {
                        store.lock_one(self.st.db, key, self.st.now)
                    } else {
                        store.lock_at(self.st.db, spec.keys(a), self.st.now)
                    };
                    self.run_keyed(&mut ks, spec, run, a);
                }
            }
            return After::Continue;
        }
        match spec.name {
            "ping" => self.ping(a),
            "echo" => self.reply().bulk(&a[1]),
            "quit" => {
                self.reply().ok();
                return After::Close;
            }
            "select" => self.select(a),
            "hello" => admin::hello(self, a),
            "auth" => self.auth(a),
            "reset" => self.reset(),
            "info" => admin::info(self, a, ks),
            "client" => admin::client(self, a),
            "command" => admin::command(self, a),
            "config" => admin::config(self, a),
            "multi" => self.multi(),
            "exec" => self.exec(),
            "discard" => self.discard(),
            "watch" => self.watch(a),
            "unwatch" => {
                // During EXEC every shard is locked, and EXEC unwatches anyway.
                if ks.is_none() {
                    self.unwatch_all();
                }
                self.reply().ok();
            }
            "publish" => {
                let n = self.sh.pubsub.publish(&a[1], &a[2]);
                self.reply().uint(n);
            }
            "subscribe" => self.subscribe(&a[1..], false),
            "psubscribe" => self.subscribe(&a[1..], true),
            "unsubscribe" => self.unsubscribe(&a[1..], false),
            "punsubscribe" => self.unsubscribe(&a[1..], true),
            "blpop" => blocking::bpop(self, a, true, ks),
            "brpop" => blocking::bpop(self, a, false, ks),
            _ => self.error(SYNTAX),
        }
        After::Continue
    }

    fn run_keyed(
        &mut self,
        ks: &mut Keyspace<'_>,
        spec: &Spec,
        run: commands::Handler,
        a: &[Bytes],
    ) {
        let resp3 = self.sess.is_resp3();
        let mut x = Exec {
            ks,
            r: Reply {
                out: self.out,
                resp3,
            },
        };
        run(&mut x, a);
        if spec.has(WRITE) {
            let sized = spec.has(commands::SIZED);
            for k in spec.keys(a) {
                ks.touch(k);
                if !sized {
                    ks.account(k);
                }
            }
            if matches!(spec.name, "lpush" | "rpush") && self.sh.blocked.load(Ordering::Acquire) > 0
            {
                self.sh.list_pushed.notify_waiters();
            }
        }
    }

    fn ping(&mut self, a: &[Bytes]) {
        if a.len() > 2 {
            return self.error("ERR wrong number of arguments for 'ping' command");
        }
        let subscribed = self.sess.subscriptions() > 0 && !self.sess.is_resp3();
        let mut r = self.reply();
        match (subscribed, a.get(1)) {
            (true, msg) => {
                r.array(2);
                r.bulk(b"pong");
                r.bulk(msg.map_or(&b""[..], |m| &m[..]));
            }
            (false, Some(m)) => r.bulk(m),
            (false, None) => r.simple("PONG"),
        }
    }

    fn select(&mut self, a: &[Bytes]) {
        match args::int(&a[1]) {
            None => self.reply().not_int(),
            Some(i) if i < 0 || i as usize >= self.sh.store.databases() => {
                self.error("ERR DB index is out of range")
            }
            Some(i) => {
                self.st.db = i as usize;
                self.sess.db.store(i as usize, Ordering::Relaxed);
                self.reply().ok();
            }
        }
    }

    /// Checks a password against `requirepass`; `Err` holds the error to send.
    pub(crate) fn check_auth(
        &mut self,
        user: Option<&[u8]>,
        pass: &[u8],
    ) -> Result<(), &'static str> {
        match &self.sh.config.requirepass {
            None if user.is_none() => Err(NO_PASSWORD),
            // The default user has no password: any password is accepted for it.
            None if user == Some(b"default") => Ok(()),
            None => Err(WRONGPASS),
            Some(p) => {
                if user.is_some_and(|u| u != b"default") || p.as_bytes() != pass {
                    Err(WRONGPASS)
                } else {
                    self.st.authed = true;
                    Ok(())
                }
            }
        }
    }

    fn auth(&mut self, a: &[Bytes]) {
        let res = match a.len() {
            2 => self.check_auth(None, &a[1]),
            3 => self.check_auth(Some(&a[1]), &a[2]),
            _ => Err(SYNTAX),
        };
        match res {
            Ok(()) => self.reply().ok(),
            Err(e) => self.error(e),
        }
    }

    fn reset(&mut self) {
        self.st.multi = None;
        self.st.multi_error = false;
        self.sess.meta.lock().in_multi = None;
        self.unwatch_all();
        self.unsubscribe_all(false);
        self.unsubscribe_all(true);
        self.st.db = 0;
        self.sess.db.store(0, Ordering::Relaxed);
        self.sess.resp3.store(false, Ordering::Relaxed);
        self.st.authed = self.sh.config.requirepass.is_none();
        self.sess.meta.lock().name = None;
        self.reply().simple("RESET");
    }

    fn multi(&mut self) {
        if self.st.multi.is_some() {
            return self.error("ERR MULTI calls can not be nested");
        }
        self.st.multi = Some(Vec::new());
        self.st.multi_bytes = 0;
        self.st.multi_error = false;
        self.sess.meta.lock().in_multi = Some(0);
        self.reply().ok();
    }

    fn discard(&mut self) {
        if self.st.multi.take().is_none() {
            return self.error("ERR DISCARD without MULTI");
        }
        self.sess.meta.lock().in_multi = None;
        self.unwatch_all();
        self.reply().ok();
    }

    fn exec(&mut self) {
        let Some(queue) = self.st.multi.take() else {
            return self.error("ERR EXEC without MULTI");
        };
        self.sess.meta.lock().in_multi = None;
        if std::mem::take(&mut self.st.multi_error) {
            self.unwatch_all();
            return self.error("EXECABORT Transaction discarded because of previous errors.");
        }
        {
            // Every shard is held for the whole transaction, so it is atomic and the
            // watch check cannot race with a writer.
            let sh = self.sh;
            let mut ks = sh.store.lock_all(self.st.db);
            if !self.st.watch_flag.load(Ordering::Acquire) {
                self.reply().array(queue.len());
                let cx = self.cx.take();
                for args in &queue {
                    // Looked up and checked when queued.
                    if let Some(spec) = commands::lookup(&args[0]) {
                        self.sh.commands.fetch_add(1, Ordering::Relaxed);
                        self.execute(spec, args, Some(&mut ks));
                    }
                }
                self.cx = cx;
                drop(ks);
                self.unwatch_all();
                return;
            }
        }
        self.unwatch_all();
        self.reply().null_array();
    }

    fn watch(&mut self, a: &[Bytes]) {
        if self.st.multi.is_some() {
            return self.error("ERR WATCH inside MULTI is not allowed");
        }
        for k in &a[1..] {
            let k = Bytes::copy_from_slice(k);
            self.sh.store.watch(self.st.db, &k, &self.st.watch_flag);
            self.st.watched.push((self.st.db, k));
        }
        self.reply().ok();
    }

    pub(crate) fn unwatch_all(&mut self) {
        for (db, k) in self.st.watched.drain(..) {
            self.sh.store.unwatch(db, &k, &self.st.watch_flag);
        }
        self.st.watch_flag = Arc::new(AtomicBool::new(false));
    }

    fn subscribe(&mut self, names: &[Bytes], pattern: bool) {
        let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
        for n in names {
            let n = Bytes::copy_from_slice(n);
            if self.st.subscribed(pattern).insert(n.clone()) {
                self.sh.pubsub.subscribe(self.sess, &n, pattern);
            }
            self.update_sub_counts();
            self.sub_reply(kind, Some(&n));
        }
    }

    fn unsubscribe(&mut self, names: &[Bytes], pattern: bool) {
        let kind: &[u8] = if pattern {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let names: Vec<Bytes> = if names.is_empty() {
            self.st.subscribed(pattern).iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            return self.sub_reply(kind, None);
        }
        for n in names {
            if self.st.subscribed(pattern).remove(&n[..]) {
                self.sh.pubsub.unsubscribe(self.sess.id, &n, pattern);
            }
            self.update_sub_counts();
            self.sub_reply(kind, Some(&n));
        }
    }

    /// The `[kind, name, count]` reply every (un)subscribe gives per name (`name` null when
    /// there was none to leave).
    fn sub_reply(&mut self, kind: &[u8], name: Option<&[u8]>) {
        let total = self.sess.subscriptions();
        let mut r = self.reply();
        r.push(3);
        r.bulk(kind);
        match name {
            Some(n) => r.bulk(n),
            None => r.null(),
        }
        r.uint(total);
    }

    fn unsubscribe_all(&mut self, pattern: bool) {
        for n in std::mem::take(self.st.subscribed(pattern)) {
            self.sh.pubsub.unsubscribe(self.sess.id, &n, pattern);
        }
        self.update_sub_counts();
    }

    fn update_sub_counts(&self) {
        self.sess
            .subs
            .store(self.st.channels.len(), Ordering::Relaxed);
        self.sess
            .psubs
            .store(self.st.patterns.len(), Ordering::Relaxed);
    }
}

/// The bytes a queued command holds.
fn command_len(args: &[Bytes]) -> usize {
    args.iter().map(|a| a.len() + 16).sum()
}

const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Redis's reply to an unknown command: the name and up to 128 bytes of arguments.
fn unknown_command(args: &[Bytes]) -> String {
    let name = String::from_utf8_lossy(&args[0][..args[0].len().min(128)]).into_owned();
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let a = String::from_utf8_lossy(&a[..a.len().min(room)]).into_owned();
        rest.push('\'');
        rest.push_str(&a);
        rest.push_str("' ");
    }
    format!("ERR unknown command '{name}', with args beginning with: {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_lists_its_arguments_like_redis() {
        let args: Vec<Bytes> = ["foo", "a", "b"].into_iter().map(Bytes::from).collect();
        assert_eq!(
            unknown_command(&args),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let args = vec![Bytes::from("x")];
        assert_eq!(
            unknown_command(&args),
            "ERR unknown command 'x', with args beginning with: "
        );
    }
}
