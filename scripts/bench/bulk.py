"""Moves BULK bytes each way at once over one connection to an echo server and prints the
seconds it took: `bulk.py ADDR BULK [TARGET]`. With TARGET, ADDR is a proxy and the bytes go
through a CONNECT tunnel to TARGET."""
import socket
import sys
import threading
import time

host, port = sys.argv[1].rsplit(":", 1)
total = int(sys.argv[2])
target = sys.argv[3] if len(sys.argv) > 3 else None
s = socket.create_connection((host, int(port)))
if target:
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, head
        head += b
    assert head.startswith(b"HTTP/1.1 200"), head
chunk = b"x" * (256 * 1024)


def send():
    left = total
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)


t0 = time.monotonic()
w = threading.Thread(target=send)
w.start()
got = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += len(b)
w.join()
assert got == total, (got, total)
print(time.monotonic() - t0)
