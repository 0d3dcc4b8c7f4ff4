#!/usr/bin/env python3
"""The abuse suite: runs the attacks of issue 12 against `quasar serve echo` (loopback)
and writes a Markdown table (RSS before/peak/after, descriptors, other clients' p99,
verdict) to docs/reliability.md.

Standard library only. Counts are scaled by SCALE (default 1.0 = the sizes below; the
issue's full sizes are about 3-10x). Usage:

    cargo build --release -p quasar
    scripts/abuse.sh                  # or: python3 scripts/abuse.py --quasar target/release/quasar
"""

import argparse
import os
import random
import re
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

MiB = 1 << 20


# ----- server process -----

class Server:
    def __init__(self, quasar, proto, flags, log_path, nofile=None):
        self.log = open(log_path, "wb")

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [quasar, "serve", proto, "--bind", "127.0.0.1:0"] + flags,
            stdout=subprocess.PIPE, stderr=self.log, preexec_fn=limit)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"\S+ (tcp|udp|tls) (\S+):(\d+)", line)
        if not m:
            raise SystemExit(f"server did not announce an address: {line!r}")
        self.addr = (m.group(2), int(m.group(3)))
        self.peak = 0
        self._stop = False
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _status(self, key):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def rss(self):
        return self._status("VmRSS:")

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return -1

    def cpu(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return 0.0

    def _sample(self):
        while not self._stop:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)

    def stop(self):
        self._stop = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = "killed"
        self.log.close()
        return code


def log_lines(path, needle):
    with open(path, "rb") as f:
        return sum(1 for line in f if needle.encode() in line)


# ----- honest load, for other clients' p99 -----

HONEST = {
    # protocol: (request, the reply's last bytes)
    "echo": (b"ping\r\n\r\n", b"ping\r\n\r\n"),
    "http": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"Hello, World!"),
    "resp": (b"PING\r\n", b"+PONG\r\n"),
}


class Honest:
    """One client sending a request every 20 ms and timing the reply."""

    def __init__(self, addr, proto="echo"):
        self.addr, self.lat, self.errors, self._stop = addr, [], 0, False
        self.req, self.end = HONEST[proto]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                s = socket.create_connection(self.addr, timeout=5)
                while not self._stop:
                    t0 = time.perf_counter()
                    s.sendall(self.req)
                    got = b""
                    while not got.endswith(self.end):
                        chunk = s.recv(4096)
                        if not chunk:
                            raise OSError("closed")
                        got += chunk
                    self.lat.append(time.perf_counter() - t0)
                    time.sleep(0.02)
            except OSError:
                self.errors += 1
                time.sleep(0.1)

    def stop(self):
        self._stop = True
        self.t.join(timeout=6)
        if not self.lat:
            return None
        q = statistics.quantiles(self.lat, n=100) if len(self.lat) > 1 else self.lat
        return q[-1] * 1000


# ----- attacks -----

def connect_many(addr, n):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(addr, timeout=5)
            socks.append(s)
        except OSError:
            pass
    return socks


def closed(s, wait=0.01):
    """Whether the server closed (EOF or reset) `s`; data still arriving is not a close."""
    s.settimeout(wait)
    try:
        while True:
            data = s.recv(65536)
            if data == b"":
                return True
    except (socket.timeout, BlockingIOError):
        return False
    except OSError:
        return True


def attack_big_unfinished(server, scale):
    n = int(3000 * scale)
    socks = connect_many(server.addr, n)
    sent = _send_loop(socks, b"a" * (MiB - 1), 60)
    time.sleep(2)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} conns x 1 MiB unfinished ({sent} sent whole); {shut} closed", None


def attack_slow_readers(server, scale):
    n = int(200 * scale)
    socks = connect_many(server.addr, n)
    line = b"b" * 1020 + b"\r\n\r\n"
    for s in socks:
        s.settimeout(0.05)
        try:
            for _ in range(5 * 1024):
                s.sendall(line)
        except OSError:
            pass
    deadline = time.time() + 45
    while time.time() < deadline:
        shut = sum(closed(s) for s in socks)
        if shut == len(socks):
            break
        time.sleep(1)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} clients send 5 MiB, never read; {shut}/{n} closed", shut == n


def attack_slowloris(server, scale):
    n = int(1000 * scale)
    socks = connect_many(server.addr, n)
    t0 = time.time()
    while time.time() - t0 < 25:
        for s in socks:
            try:
                s.send(b"x")
            except OSError:
                pass
        time.sleep(1)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} conns at 1 byte/s for 25 s; {shut}/{n} closed", shut == n


def attack_max_connections(server, scale):
    hold = connect_many(server.addr, 100)
    time.sleep(0.5)
    extra = connect_many(server.addr, int(200 * scale))
    answered = 0
    for s in extra:
        s.settimeout(3)
        try:
            s.sendall(b"hi\r\n\r\n")
            s.recv(100)  # the busy reply, or b"" when closed: an answer either way
            answered += 1
        except socket.timeout:
            pass  # heard nothing: the old behaviour
        except OSError:
            answered += 1  # a reset is an answer too
    for s in hold + extra:
        s.close()
    return f"100 held + {len(extra)} extra; {answered} extra answered at once", answered == len(extra)


def attack_udp_oversize(server, scale, udp_addr, log_path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = int(100_000 * scale)
    t0 = time.time()
    for _ in range(n):
        s.sendto(b"z" * 2000, udp_addr)
    time.sleep(1)
    lines = log_lines(log_path, "oversize_datagram")
    secs = max(1.0, time.time() - t0)
    return f"{n} datagrams over 1024 B in {secs:.1f} s; {lines} log lines", lines <= secs + 2


def attack_udp_reflection(server, scale, udp_addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x\n" * 32_753, udp_addr)
    s.settimeout(0.5)
    got = 0
    try:
        while True:
            s.recv(65536)
            got += 1
    except socket.timeout:
        pass
    return f"1 datagram of 32,753 lines -> {got} replies", got <= 16


def _send_loop(socks, payload, seconds):
    """Sends `payload` on every socket without blocking, for at most `seconds`;
    returns how many sockets took all of it."""
    left = {s: memoryview(payload) for s in socks}
    for s in socks:
        s.setblocking(False)
    deadline = time.time() + seconds
    while left and time.time() < deadline:
        progress = False
        for s, rest in list(left.items()):
            try:
                n = s.send(rest[:256 * 1024])
                progress = True
                if n == len(rest):
                    del left[s]
                else:
                    left[s] = rest[n:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                del left[s]
        if not progress:
            time.sleep(0.05)
    return len(socks) - len(left)


def attack_conn_flood(server, scale):
    n = int(5000 * scale)
    ok, t0 = 0, time.time()
    for i in range(n):
        try:
            s = socket.create_connection(server.addr, timeout=5)
            if i % 2 == 0:
                s.sendall(b"hi\r\n\r\n")
                got = b""
                while len(got) < 6:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                ok += got == b"hi\r\n\r\n"
            s.close()
        except OSError:
            pass
    secs = time.time() - t0
    time.sleep(1)
    return f"{n} short connections in {secs:.1f} s ({n / secs:.0f}/s), half echo once; {ok}/{(n + 1) // 2} echoed", \
        ok == (n + 1) // 2


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def attack_resets(server, scale):
    n = int(1000 * scale)
    socks = connect_many(server.addr, n)
    for s in socks:
        try:
            s.sendall(b"half a messa" * 100)
        except OSError:
            pass
    time.sleep(0.3)
    for s in socks:
        reset(s)
    time.sleep(1.5)
    return f"{len(socks)} connections reset (RST) mid-message", None


def attack_garbage_half_close(server, scale):
    n = int(500 * scale)
    rnd = random.Random(12)
    socks = connect_many(server.addr, n)
    for s in socks:
        try:
            s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 3000))))
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    deadline, shut = time.time() + 10, 0
    for s in socks:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            while s.recv(65536):
                pass
            shut += 1
        except socket.timeout:
            pass
        except OSError:
            shut += 1
        s.close()
    return f"{n} conns send random bytes then half-close; {shut}/{n} closed by the server", shut == n


def attack_emfile(server, scale):
    n = 300
    socks = connect_many(server.addr, n)
    time.sleep(2)
    for s in socks:
        s.close()
    time.sleep(1.5)
    # Served again once descriptors are free.
    s = socket.create_connection(server.addr, timeout=5)
    s.sendall(b"back\r\n\r\n")
    s.settimeout(5)
    try:
        ok = s.recv(64) == b"back\r\n\r\n"
    except OSError:
        ok = False
    s.close()
    lines = log_lines(server.log.name, "accept failed")
    return f"`ulimit -n 64`, {n} connections, then closed; served after: {ok}; {lines} accept log lines", \
        ok and lines <= 20


def attack_sigterm_under_load(server, scale):
    """Clients stream requests; SIGTERM mid-load; every reply received is whole."""
    n = int(50 * scale) or 1
    msg = b"m" * 1000 + b"\r\n\r\n"
    stats = {"whole": 0, "truncated": 0}
    lock = threading.Lock()

    def client():
        try:
            s = socket.create_connection(server.addr, timeout=5)
        except OSError:
            return
        s.settimeout(15)
        while True:
            try:
                s.sendall(msg)
            except OSError:
                return
            got = b""
            try:
                while len(got) < len(msg):
                    chunk = s.recv(len(msg) - len(got))
                    if not chunk:
                        break
                    got += chunk
            except OSError:
                pass
            with lock:
                if got == msg:
                    stats["whole"] += 1
                else:
                    stats["truncated"] += 1 if got else 0
            if got != msg:
                return

    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(2)
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=20)
    for t in threads:
        t.join(timeout=5)
    return (f"{n} clients in a request loop, SIGTERM after 2 s: {stats['whole']} whole replies, "
            f"{stats['truncated']} truncated; exit {code}"), stats["truncated"] == 0 and code == 0


def attack_http_slowloris(server, scale):
    n = int(1000 * scale)
    socks = connect_many(server.addr, n)
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    t0, i = time.time(), 0
    while time.time() - t0 < 25:
        for s in socks:
            try:
                s.send(head[i % len(head):i % len(head) + 1])
            except OSError:
                pass
        i += 1
        time.sleep(1)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} conns send headers at 1 byte/s for 25 s; {shut}/{n} closed", shut == n


def attack_http_big_bodies(server, scale):
    n = int(200 * scale)
    socks = connect_many(server.addr, n)
    body = 5 * MiB
    head = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {body}\r\n\r\n".encode()
    took = _send_loop(socks, head + b"b" * body, 10)
    deadline = time.time() + 45
    while time.time() < deadline and sum(closed(s) for s in socks) < len(socks):
        time.sleep(1)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} POST /echo of 5 MiB, responses never read; {took} sent whole; {shut}/{n} closed", shut == n


def attack_resp_big_bulk(server, scale):
    n = int(3000 * scale)
    socks = connect_many(server.addr, n)
    head = f"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${60 * MiB}\r\n".encode()
    took = _send_loop(socks, head + b"v" * (MiB - len(head) - 1), 60)
    time.sleep(2)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} conns x ~1 MiB of a 60 MiB bulk string, then silent; {took} sent; {shut} closed", None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quasar", default="target/release/quasar")
    ap.add_argument("--out", default="docs/reliability.md")
    ap.add_argument("--scale", type=float, default=float(os.environ.get("SCALE", "1")))
    ap.add_argument("--only", default=os.environ.get("ONLY", ""))
    args = ap.parse_args()
    rows = []
    logdir = os.environ.get("ABUSE_LOGS", "/tmp/quasar-abuse")
    os.makedirs(logdir, exist_ok=True)

    rt0 = ["--request-timeout", "0"]
    tcp_attacks = [
        # name, server, flags, attack, descriptor limit
        ("big-unfinished", "echo", [], attack_big_unfinished, None),
        ("big-unfinished", "echo", rt0, attack_big_unfinished, None),
        ("slow-readers", "echo", rt0, attack_slow_readers, None),
        ("slowloris", "echo", ["--keep-alive", "5"] + rt0, attack_slowloris, None),
        ("max-connections", "echo", ["--max-connections", "100", "--overflow", "reject"], attack_max_connections, None),
        ("conn-flood", "echo", [], attack_conn_flood, None),
        ("resets", "echo", [], attack_resets, None),
        ("garbage-half-close", "echo", [], attack_garbage_half_close, None),
        ("emfile", "echo", [], attack_emfile, 64),
        ("sigterm-under-load", "echo", [], attack_sigterm_under_load, None),
        ("http-slowloris", "http", [], attack_http_slowloris, None),
        ("http-slowloris", "http", rt0, attack_http_slowloris, None),
        ("http-big-bodies", "http", rt0, attack_http_big_bodies, None),
        ("http-max-connections", "http", ["--max-connections", "100", "--overflow", "reject"], attack_max_connections, None),
        ("resp-big-bulk", "resp", [], attack_resp_big_bulk, None),
        ("resp-max-connections", "resp", ["--max-connections", "100", "--overflow", "reject"], attack_max_connections, None),
    ]
    for name, proto, flags, fn, nofile in tcp_attacks:
        if args.only and name not in args.only.split(","):
            continue
        log = f"{logdir}/{name}{'-rt0' if flags == rt0 else ''}.log"
        srv = Server(args.quasar, proto, flags, log, nofile)
        time.sleep(0.3)
        before, fds0, cpu0 = srv.rss(), srv.fds(), srv.cpu()
        honest = Honest(srv.addr, proto)
        what, ok = fn(srv, args.scale)
        time.sleep(1)
        p99 = honest.stop()
        after, fds1 = srv.rss(), srv.fds()
        cpu = srv.cpu() - cpu0
        if srv.proc.poll() is None:
            code = srv.stop()
        else:
            code = srv.proc.returncode
            srv.log.close()
            fds1 = fds0  # exited: the kernel freed everything
        if ok is None:
            # Budget: peak RSS within the budget (512 MiB) + a constant (64 MiB).
            ok = srv.peak <= (512 + 64) * MiB
        fds_ok = fds1 <= fds0 + 1  # the honest client's own connection may linger
        verdict = "PASS" if ok and fds_ok and code == 0 else f"FAIL (exit {code}{', fds' if not fds_ok else ''})"
        shown = f"{proto}: " + (" ".join(flags) or "defaults")
        if nofile:
            shown += f", ulimit -n {nofile}"
        rows.append((name, shown, what, before, srv.peak, after,
                     f"{fds0}->{fds1}", f"{cpu:.1f}", p99, verdict))
        print(rows[-1], flush=True)

    for name, fn in [("udp-oversize", attack_udp_oversize), ("udp-reflection", attack_udp_reflection)]:
        if args.only and name not in args.only.split(","):
            continue
        log = f"{logdir}/{name}.log"
        flags = ["--max-datagram-size", "1024"] if name == "udp-oversize" else []
        srv = Server(args.quasar, "udp-echo", flags, log)
        udp_addr = srv.addr
        before, fds0, cpu0 = srv.rss(), srv.fds(), srv.cpu()
        if name == "udp-oversize":
            what, ok = fn(srv, args.scale, udp_addr, log)
        else:
            what, ok = fn(srv, args.scale, udp_addr)
        after, fds1, cpu = srv.rss(), srv.fds(), srv.cpu() - cpu0
        code = srv.stop()
        verdict = "PASS" if ok and code == 0 else f"FAIL (exit {code})"
        rows.append((name, "udp-echo: " + (" ".join(flags) or "defaults"), what, before, srv.peak,
                     after, f"{fds0}->{fds1}", f"{cpu:.1f}", None, verdict))
        print(rows[-1], flush=True)

    mb = lambda b: f"{b / MiB:.0f}"
    with open(args.out, "w") as f:
        f.write("# Reliability: the abuse suite\n\n")
        f.write("Written by `scripts/abuse.sh` (scripts/abuse.py): each attack of the abuse suite against a\n"
                "fresh `quasar serve echo` / `http` / `resp` / `udp-echo` on loopback, while one honest\n"
                "client of the same protocol sends a request every 20 ms. Scale "
                f"{args.scale} (1 = the full\n"
                "sizes: 3,000 x 1 MiB, 1,000 slowloris). RSS in MiB (peak sampled every 50 ms); fds\n"
                "before->after; CPU = server CPU seconds during the attack; p99 = the honest client's\n"
                "latency. PASS needs exit 0 on SIGTERM, descriptors back to the baseline, and the\n"
                "attack's bound (see docs/overload.md); where the row states no bound, peak RSS\n"
                "within the 512 MiB budget + 64 MiB.\n\n")
        f.write(os.environ.get("ABUSE_NOTE", "") + "\n\n" if os.environ.get("ABUSE_NOTE") else "")
        f.write("| attack | flags | what happened | RSS before | peak | after | fds | CPU s | other p99 ms | verdict |\n")
        f.write("|---|---|---|---:|---:|---:|---|---:|---:|---|\n")
        for (name, flags, what, b, p, a, fds, cpu, p99, verdict) in rows:
            p99s = "-" if p99 is None else f"{p99:.1f}"
            f.write(f"| {name} | `{flags}` | {what} | {mb(b)} | {mb(p)} | {mb(a)} | {fds} | {cpu} | {p99s} | {verdict} |\n")
        pass
    return 0 if all(r[-1] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
