#!/usr/bin/env python3
"""A fixed-count HTTP/1.1 load client for instruction counting (scripts/bench/http-count.sh).

Sends exactly REQUESTS requests to ADDR over CONNECTIONS keep-alive connections, DEPTH
requests per write (1: one at a time; 16: pipelined), and reads every response whole
(Content-Length framing). The workload is one route or `mixed`: the mixed list of
scripts/bench/mixed.lua (several routes, a path parameter, a JSON POST, varied headers).
Exits non-zero if any response is not 2xx or the server closes early, so a count is never
taken over a broken run.

usage: http_count.py ADDR PATH|mixed REQUESTS [--connections N] [--depth D]
"""

import argparse
import selectors
import socket
import sys

MIXED = [
    ("GET", "/plaintext", [("User-Agent", "curl/8.5.0"), ("Accept", "*/*")], b""),
    ("GET", "/json", [("Accept", "application/json"), ("Accept-Encoding", "gzip, br")], b""),
    ("GET", "/app/json/42", [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101"),
                             ("Accept-Language", "en-US,en;q=0.5"), ("Cookie", "session=abc123; theme=dark")], b""),
    ("POST", "/echo", [("Content-Type", "application/json"), ("X-Request-Id", "7f9c2ba4-e88f-11e9")],
     b'{"user":"alice","items":[1,2,3],"note":"hello"}'),
    ("GET", "/plain/json/7", [("Accept", "application/json"), ("Cache-Control", "no-cache")], b""),
    ("GET", "/get?page=2&sort=name", [("Referer", "http://127.0.0.1/list"), ("X-Forwarded-For", "127.0.0.1")], b""),
]


def encode(method, path, headers, body, host):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Conn:
    def __init__(self, addr, requests, depth, total):
        self.sock = socket.create_connection(addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.requests = requests
        self.depth = depth
        self.left = total  # responses still to read
        self.to_send = total
        self.next = 0
        self.buf = b""
        self.in_flight = 0

    def send_batch(self):
        n = min(self.depth, self.to_send)
        out = b"".join(self.requests[(self.next + i) % len(self.requests)] for i in range(n))
        self.next += n
        self.to_send -= n
        self.in_flight = n
        self.sock.sendall(out)

    def on_readable(self):
        data = self.sock.recv(1 << 16)
        if not data:
            sys.exit(f"server closed a connection with {self.left} responses to go")
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            status = int(head.split(" ", 2)[1])
            length = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
                elif k.strip().lower() == "transfer-encoding":
                    sys.exit("chunked response: not expected on these routes")
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            if not 200 <= status < 300:
                sys.exit(f"status {status}: {head.splitlines()[0]}")
            self.left -= 1
            self.in_flight -= 1
            if self.in_flight == 0 and self.to_send > 0:
                self.send_batch()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addr")
    p.add_argument("path")
    p.add_argument("requests", type=int)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--depth", type=int, default=1)
    a = p.parse_args()
    host, _, port = a.addr.rpartition(":")
    if a.path == "mixed":
        reqs = [encode(m, path, h, b, a.addr) for m, path, h, b in MIXED]
    else:
        reqs = [encode("GET", a.path, [], b"", a.addr)]
    per = a.requests // a.connections
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.connections):
        c = Conn((host, int(port)), reqs, a.depth, per + (1 if i < a.requests % a.connections else 0))
        # Each connection starts at another point of the list so a read mixes routes.
        c.next = i
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    for c in conns:
        if c.to_send:
            c.send_batch()
    live = sum(1 for c in conns if c.left)
    while live:
        for key, _ in sel.select():
            c = key.data
            c.on_readable()
            if c.left == 0:
                sel.unregister(c.sock)
                c.sock.close()
                live -= 1
    print(f"{a.requests} responses")


if __name__ == "__main__":
    main()
