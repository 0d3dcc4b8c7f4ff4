//! Runs a load: worker threads, the shared timetable, the progress bar and CPU sampling.
//!
//! Each of `--threads` worker threads runs its own current-thread tokio runtime and owns every
//! `threads`-th connection, one task per connection (the shape of a fast server, and the
//! cheapest for a tool that shares two cores with the server it measures). Workers first open
//! their connections, then wait for the common [`Schedule`], so connection setup never falls
//! inside the measured window. The main thread draws the progress bar and reads the server's
//! CPU time exactly when the measured window opens and closes.
//!
//! The run is over at `--duration` or, with `--requests N`, when the [`Budget`] is spent,
//! whichever comes first; [`WorkerCtx::sending`] is the one place every engine asks.

use std::cell::RefCell;
use std::fmt;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::net::{TcpStream, UdpSocket};

use crate::bench::args::{Config, Protocol};
use crate::bench::http::HttpWorkload;
use crate::bench::payload::Payload;
use crate::bench::proc_stat;
use crate::bench::stats::{Budget, ErrorKind, Progress, Schedule, WorkerStats};
use crate::bench::tcp::run_stream;
use crate::bench::udp::run_udp;
use crate::bench::workload::EchoWorkload;
use crate::bench::ws::{self, WsWorkload};

/// How often the progress bar redraws.
const TICK: Duration = Duration::from_millis(200);

/// What the connection tasks of one worker thread share.
#[derive(Debug)]
pub(crate) struct WorkerCtx {
    pub(crate) cfg: Arc<Config>,
    pub(crate) schedule: Schedule,
    /// `--requests`, shared by every thread.
    pub(crate) budget: Arc<Budget>,
    pub(crate) stats: RefCell<WorkerStats>,
    pub(crate) progress: Arc<Progress>,
}

impl WorkerCtx {
    /// Whether requests may still be sent at `now`: the sending window is open and the
    /// request budget, if any, is not spent.
    #[inline]
    pub(crate) fn sending(&self, now: Instant) -> bool {
        now < self.schedule.stop && !self.budget.is_spent()
    }

    /// When replies still missing become errors: `--drain` after the end of the sending
    /// window, or after the budget ran out if it did first.
    pub(crate) fn drain_deadline(&self) -> Instant {
        match self.budget.ended_at() {
            Some(end) => self.schedule.drain_deadline.min(end + self.cfg.drain),
            None => self.schedule.drain_deadline,
        }
    }

    /// Resolves at the drain deadline, which moves earlier if the budget runs out meanwhile.
    pub(crate) async fn drain_passed(&self) {
        let spent = self.budget.spent_signal();
        if !self.budget.is_spent() {
            let nominal = tokio::time::Instant::from_std(self.schedule.drain_deadline);
            tokio::select! {
                () = tokio::time::sleep_until(nominal) => return,
                () = spent => {}
            }
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(self.drain_deadline())).await;
    }

    /// When a worker should wake next: the next paced send while sending (if a pipeline
    /// slot is free), the end of the sending window otherwise, then the drain deadline.
    pub(crate) fn next_wake(
        &self,
        pacing: &super::pacing::Pacing,
        next_send: u64,
        in_flight: usize,
        now: Instant,
    ) -> Instant {
        let schedule = self.schedule;
        let room = pacing.is_open() && in_flight < self.cfg.pipeline as usize;
        match (self.sending(now), room) {
            (true, true) => pacing.due(next_send, now).min(schedule.stop),
            (true, false) => schedule.stop,
            (false, _) => self.drain_deadline(),
        }
    }

    /// When request `next_send` was meant to leave, if it may leave `now`: a pipeline slot
    /// is free, its paced time has come and the sending window is still open (and the budget
    /// not spent).
    pub(crate) fn send_due(
        &self,
        pacing: &super::pacing::Pacing,
        next_send: u64,
        in_flight: usize,
        now: Instant,
    ) -> Option<Instant> {
        let due = pacing.due(next_send, now);
        let room = in_flight < self.cfg.pipeline as usize;
        (room && due <= now && due < self.schedule.stop && !self.budget.is_spent()).then_some(due)
    }

    /// Past the drain deadline, counts the replies still missing as timeouts of `who`;
    /// returns whether the worker should stop.
    pub(crate) fn drain_expired(
        &self,
        who: fmt::Arguments<'_>,
        in_flight: usize,
        now: Instant,
    ) -> bool {
        if now < self.drain_deadline() {
            return false;
        }
        let missing = in_flight as u64;
        self.stats.borrow_mut().error(
            &self.progress,
            ErrorKind::Timeout,
            missing,
            format_args!("{who}: replies still missing at the drain deadline: {missing}"),
        );
        true
    }

    /// Opens the connection's pacing timer, or records the failure as an I/O error of
    /// `who` (the connection then does no work) and returns `None`.
    pub(crate) fn timer(&self, who: fmt::Arguments<'_>) -> Option<super::timer::PreciseTimer> {
        super::timer::PreciseTimer::new()
            .map_err(|e| self.timer_error(who, e))
            .ok()
    }

    /// Arms `timer` for `wake`, or records the failure as an I/O error of `who`; returns
    /// whether it armed (the connection stops when it did not).
    pub(crate) fn arm(
        &self,
        timer: &mut super::timer::PreciseTimer,
        wake: Instant,
        who: fmt::Arguments<'_>,
    ) -> bool {
        timer
            .arm(wake)
            .map_err(|e| self.timer_error(who, e))
            .is_ok()
    }

    fn timer_error(&self, who: fmt::Arguments<'_>, e: std::io::Error) {
        self.stats.borrow_mut().error(
            &self.progress,
            ErrorKind::Io,
            1,
            format_args!("{who}: timer: {e}"),
        );
    }
}

/// Server CPU seconds used over the measured window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    pub(crate) pid: u32,
    pub(crate) seconds: f64,
}

/// Everything a finished load measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) stats: WorkerStats,
    /// The timetable as it ran: `stop` is when the budget ran out if it did before
    /// `--duration`, so the measured window is the real one.
    pub(crate) schedule: Schedule,
    pub(crate) cpu: Option<CpuSample>,
}

enum Conn {
    Tcp(TcpStream),
    Tls(Box<quasar_net::tls::tokio_rustls::client::TlsStream<TcpStream>>),
    Udp(UdpSocket),
    /// `--connect-per-request`: the connection task opens its own, one per request.
    PerRequest,
}

/// Runs the load `cfg` describes and returns the merged figures.
pub(crate) fn run_load(cfg: Config) -> Outcome {
    let cfg = Arc::new(cfg);
    let threads = cfg.threads;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut workers = Vec::new();
    for t in 0..threads {
        let ids: Vec<u32> = (t..cfg.connections).step_by(threads as usize).collect();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<(Schedule, Arc<Budget>)>();
        let progress = Arc::new(Progress::default());
        let handle = {
            let (cfg, progress, ready) = (cfg.clone(), progress.clone(), ready_tx.clone());
            thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || worker(cfg, ids, ready, go_rx, progress))
                .expect("spawn a worker thread")
        };
        workers.push((handle, go_tx, progress));
    }
    drop(ready_tx);
    // Every worker reports once its connections are open (or failed to open).
    for _ in 0..threads {
        if ready_rx.recv().is_err() {
            break;
        }
    }

    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let stop = measure_start + cfg.duration;
    let mut schedule = Schedule {
        start,
        measure_start,
        stop,
        drain_deadline: stop + cfg.drain,
    };
    let budget = Arc::new(Budget::new(cfg.requests, measure_start));
    let mut handles = Vec::new();
    let mut progresses = Vec::new();
    for (handle, go, progress) in workers {
        let _ = go.send((schedule, budget.clone()));
        handles.push(handle);
        progresses.push(progress);
    }

    let bar = progress_bar(&cfg, schedule);
    let mut meter = Meter::new(progresses);
    meter.tick_until(&bar, measure_start, None);
    let cpu_before = cfg.server_pid.map(sample_cpu);
    meter.tick_until(&bar, stop, Some(&budget));
    let cpu_after = cfg.server_pid.map(sample_cpu);
    bar.set_message("waiting for outstanding replies");
    while !handles.iter().all(|h| h.is_finished()) {
        meter.tick(&bar);
        thread::sleep(Duration::from_millis(20));
    }
    bar.finish_and_clear();

    let mut stats = WorkerStats::new();
    for handle in handles {
        match handle.join() {
            Ok(worker_stats) => stats.merge(&worker_stats),
            Err(_) => stats.error(
                &Progress::default(),
                ErrorKind::Io,
                1,
                "a worker thread panicked",
            ),
        }
    }
    // Every worker has finished, so every counted reply's arrival is in.
    if let Some(end) = budget.ended_at() {
        schedule.stop = schedule.stop.min(end);
    }
    let cpu = match (cfg.server_pid, cpu_before, cpu_after) {
        (Some(pid), Some(Some(before)), Some(Some(after))) => Some(CpuSample {
            pid,
            seconds: after - before,
        }),
        _ => None,
    };
    Outcome {
        stats,
        schedule,
        cpu,
    }
}

fn sample_cpu(pid: u32) -> Option<f64> {
    match proc_stat::cpu_seconds(pid) {
        Ok(seconds) => Some(seconds),
        Err(e) => {
            eprintln!("quasar bench: cannot read the CPU time of process {pid}: {e}");
            None
        }
    }
}

/// One worker thread: open its connections, wait for the timetable, run them to the end.
fn worker(
    cfg: Arc<Config>,
    ids: Vec<u32>,
    ready: mpsc::Sender<()>,
    go: tokio::sync::oneshot::Receiver<(Schedule, Arc<Budget>)>,
    progress: Arc<Progress>,
) -> WorkerStats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let mut stats = WorkerStats::new();
        let opened = futures_util::future::join_all(ids.iter().map(|_| open(&cfg, cfg.addr))).await;
        let mut conns = Vec::with_capacity(ids.len());
        for (&id, result) in ids.iter().zip(opened) {
            match result {
                Ok(conn) => conns.push((id, conn)),
                Err(e) => stats.error(
                    &progress,
                    ErrorKind::Connect,
                    1,
                    format_args!("connection {id}: cannot connect to {}: {e}", cfg.addr),
                ),
            }
        }
        let _ = ready.send(());
        // Dropped now so that, should another worker die before reporting, the main thread's
        // `recv` ends instead of waiting on a sender that lives for the whole run.
        drop(ready);
        let Ok((schedule, budget)) = go.await else {
            return stats;
        };
        let ctx = Rc::new(WorkerCtx {
            cfg,
            schedule,
            budget,
            stats: RefCell::new(stats),
            progress,
        });
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|(id, conn)| tokio::task::spawn_local(drive(conn, id, ctx.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        ctx.stats.replace(WorkerStats::new())
    })
}

async fn open(cfg: &Config, addr: SocketAddr) -> std::io::Result<Conn> {
    if cfg.connect_per_request {
        return Ok(Conn::PerRequest);
    }
    if let Some(tls) = &cfg.tls {
        return Ok(Conn::Tls(Box::new(
            crate::bench::tls::connect(tls, addr).await?,
        )));
    }
    match cfg.protocol {
        Protocol::Udp => {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(addr).await?;
            Ok(Conn::Udp(socket))
        }
        _ => {
            let mut stream = TcpStream::connect(addr).await?;
            // Requests are written whole; Nagle would only hold back the next pipelined batch.
            stream.set_nodelay(true)?;
            if cfg.protocol == Protocol::Ws {
                ws::handshake(&mut stream, &cfg.addr_text, &cfg.path).await?;
            }
            Ok(Conn::Tcp(stream))
        }
    }
}

async fn drive(conn: Conn, id: u32, ctx: Rc<WorkerCtx>) {
    match conn {
        Conn::Udp(socket) => run_udp(socket, id, ctx).await,
        Conn::Tcp(mut stream) => {
            let (reader, writer) = stream.split();
            run_workload(reader, writer, id, ctx).await;
        }
        Conn::Tls(stream) => {
            let (reader, writer) = tokio::io::split(*stream);
            run_workload(reader, writer, id, ctx).await;
        }
        Conn::PerRequest if ctx.cfg.protocol == Protocol::Http => {
            let workload = HttpWorkload::new(&ctx.cfg.addr_text, &ctx.cfg.path);
            crate::bench::tls::run_per_request(workload, id, ctx).await;
        }
        Conn::PerRequest => {
            let payload = Payload::new(ctx.cfg.size, !ctx.cfg.raw, u64::from(id));
            crate::bench::tls::run_per_request(EchoWorkload::new(payload), id, ctx).await;
        }
    }
}

async fn run_workload<R, W>(reader: R, writer: W, id: u32, ctx: Rc<WorkerCtx>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    if ctx.cfg.protocol == Protocol::Http {
        let workload = HttpWorkload::new(&ctx.cfg.addr_text, &ctx.cfg.path);
        run_stream(reader, writer, workload, id, ctx).await;
    } else if ctx.cfg.protocol == Protocol::Ws {
        let payload = Payload::new(ctx.cfg.size, false, u64::from(id));
        run_stream(reader, writer, WsWorkload::new(payload), id, ctx).await;
    } else {
        let payload = Payload::new(ctx.cfg.size, !ctx.cfg.raw, u64::from(id));
        run_stream(reader, writer, EchoWorkload::new(payload), id, ctx).await;
    }
}

fn progress_bar(cfg: &Config, schedule: Schedule) -> ProgressBar {
    let total = (schedule.stop - schedule.start).as_millis() as u64;
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:30}] {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

/// Turns the workers' counters into a live rate for the progress bar.
struct Meter {
    progresses: Vec<Arc<Progress>>,
    started: Instant,
    last: (Instant, u64),
}

impl Meter {
    fn new(progresses: Vec<Arc<Progress>>) -> Meter {
        let now = Instant::now();
        Meter {
            progresses,
            started: now,
            last: (now, 0),
        }
    }

    fn tick(&mut self, bar: &ProgressBar) {
        let now = Instant::now();
        let completed: u64 = self
            .progresses
            .iter()
            .map(|p| p.completed.load(Ordering::Relaxed))
            .sum();
        let errors: u64 = self
            .progresses
            .iter()
            .map(|p| p.errors.load(Ordering::Relaxed))
            .sum();
        let elapsed = now - self.last.0;
        if elapsed >= TICK {
            let rate = (completed - self.last.1) as f64 / elapsed.as_secs_f64();
            bar.set_message(format!("{rate:>10.0} req/s  {errors} errors"));
            self.last = (now, completed);
        }
        bar.set_position((now - self.started).as_millis() as u64);
    }

    /// Redraws every tick until `deadline` or until `budget` is spent, then returns as close to
    /// it as the OS allows.
    fn tick_until(&mut self, bar: &ProgressBar, deadline: Instant, budget: Option<&Budget>) {
        loop {
            self.tick(bar);
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let wait = (deadline - now).min(TICK);
            match budget {
                Some(budget) => {
                    if budget.wait_spent(wait) {
                        return;
                    }
                }
                None => thread::sleep(wait),
            }
        }
    }
}
