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
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

MiB = 1 << 20


# ----- server process -----

class Server:
    def __init__(self, quasar, proto, flags, log_path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [quasar, "serve", proto, "--bind", "127.0.0.1:0"] + flags,
            stdout=subprocess.PIPE, stderr=self.log)
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

class Honest:
    """One client sending a line every 20 ms and timing the echo."""

    def __init__(self, addr):
        self.addr, self.lat, self.errors, self._stop = addr, [], 0, False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            try:
                s = socket.create_connection(self.addr, timeout=5)
                while not self._stop:
                    t0 = time.perf_counter()
                    s.sendall(b"ping\r\n\r\n")
                    got = b""
                    while len(got) < 8:
                        chunk = s.recv(8 - len(got))
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
    n = int(300 * scale)
    socks = connect_many(server.addr, n)
    payload = b"a" * (MiB - 1)
    sent = 0
    for s in socks:
        s.settimeout(0.2)
        try:
            s.sendall(payload)
            sent += 1
        except OSError:
            pass
    time.sleep(2)
    shut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return f"{n} conns x 1 MiB unfinished; {shut} closed", None


def attack_slow_readers(server, scale):
    n = int(50 * scale)
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
    n = int(300 * scale)
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

    tcp_attacks = [
        ("big-unfinished", [], attack_big_unfinished),
        ("slow-readers", ["--request-timeout", "0"], attack_slow_readers),
        ("slowloris", ["--keep-alive", "5", "--request-timeout", "0"], attack_slowloris),
        ("max-connections", ["--max-connections", "100", "--overflow", "reject"], attack_max_connections),
    ]
    for name, flags, fn in tcp_attacks:
        if args.only and name not in args.only.split(","):
            continue
        log = f"{logdir}/{name}.log"
        srv = Server(args.quasar, "echo", flags, log)
        time.sleep(0.3)
        before, fds0, cpu0 = srv.rss(), srv.fds(), srv.cpu()
        honest = Honest(srv.addr)
        what, ok = fn(srv, args.scale)
        time.sleep(1)
        p99 = honest.stop()
        after, fds1 = srv.rss(), srv.fds()
        cpu = srv.cpu() - cpu0
        code = srv.stop()
        if ok is None:
            # Budget: peak RSS within the budget (512 MiB) + a constant (64 MiB).
            ok = srv.peak <= (512 + 64) * MiB
        verdict = "PASS" if ok and code == 0 else f"FAIL (exit {code})"
        rows.append((name, " ".join(flags) or "defaults", what, before, srv.peak, after,
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
        rows.append((name, " ".join(flags) or "defaults", what, before, srv.peak, after,
                     f"{fds0}->{fds1}", f"{cpu:.1f}", None, verdict))
        print(rows[-1], flush=True)

    mb = lambda b: f"{b / MiB:.0f}"
    with open(args.out, "w") as f:
        f.write("# Reliability: the abuse suite\n\n")
        f.write("Written by `scripts/abuse.sh` (scripts/abuse.py): each attack of issue 12 against a\n"
                "fresh `quasar serve echo` / `udp-echo` on loopback, while one honest client pings\n"
                f"every 20 ms. Scale {args.scale} (the issue's sizes are about 3-10x). RSS in MiB\n"
                "(peak sampled every 50 ms); fds before->after; CPU = server CPU seconds during\n"
                "the attack; p99 = the honest client's echo latency. PASS needs exit 0 on SIGTERM\n"
                "and the attack's bound (see docs/overload.md).\n\n")
        f.write("| attack | flags | what happened | RSS before | peak | after | fds | CPU s | other p99 ms | verdict |\n")
        f.write("|---|---|---|---:|---:|---:|---|---:|---:|---|\n")
        for (name, flags, what, b, p, a, fds, cpu, p99, verdict) in rows:
            p99s = "-" if p99 is None else f"{p99:.1f}"
            f.write(f"| {name} | `{flags}` | {what} | {mb(b)} | {mb(p)} | {mb(a)} | {fds} | {cpu} | {p99s} | {verdict} |\n")
        f.write("\nNot yet automated here: floods of short connections, resets mid-message, garbage,\n"
                "half-closes, EMFILE under a low descriptor limit, SIGTERM under load, the HTTP and\n"
                "RESP servers, and the 30-minute soak (see the closing notes of issue 12).\n")
    return 0 if all(r[-1] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
