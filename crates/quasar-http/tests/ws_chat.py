"""Chat room peers for tests/ws_broadcast.rs, with the `websockets` library.

Usage: python ws_chat.py ws://HOST:PORT/chat CLIENTS MESSAGES SIZE

CLIENTS clients join the room and wait for the server's "welcome". Then client 0 says
MESSAGES messages of SIZE bytes ("000000xxx...", numbered) while every client but the last
reads; each of those must receive all of them, in order. The last client reads its welcome
and then nothing: a small socket receive buffer and websockets' small queue make it stop
taking bytes almost at once. Once the others are done the script prints "fast-done" and
waits for a line on stdin (the test sends it once the server has given up on the slow
client); then the slow client reads what it can until the server's close, and must have
got fewer than MESSAGES.

Prints "ok FAST SLOW_GOT" and exits 0, or fails with a traceback.
"""
import asyncio
import socket
import sys
from urllib.parse import urlparse

import websockets
from websockets.exceptions import ConnectionClosed


async def connect(url, slow):
    u = urlparse(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if slow:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (u.hostname, u.port))
    return await websockets.connect(
        url, sock=sock, compression=None, max_queue=2 if slow else 64, open_timeout=30
    )


async def main():
    url = sys.argv[1]
    clients, count, size = (int(a) for a in sys.argv[2:5])
    joined = 0
    all_joined = asyncio.Event()
    fast_done = asyncio.Event()

    def join():
        nonlocal joined
        joined += 1
        if joined == clients:
            all_joined.set()

    async def welcome(ws):
        first = await asyncio.wait_for(ws.recv(), 30)
        assert first == "welcome", first
        join()

    async def fast(i):
        ws = await connect(url, False)
        await welcome(ws)

        async def say():
            await all_joined.wait()
            for k in range(count):
                await ws.send(f"{k:06d}" + "x" * (size - 6))

        async def hear():
            for k in range(count):
                m = await asyncio.wait_for(ws.recv(), 60)
                assert m.startswith(f"{k:06d}") and len(m) == size, (i, k, m[:12])

        if i == 0:
            await asyncio.gather(say(), hear())
        else:
            await hear()
        await ws.close()

    async def slow():
        ws = await connect(url, True)
        await welcome(ws)
        await fast_done.wait()
        got = 0
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
                got += 1
        except ConnectionClosed:
            pass
        except asyncio.TimeoutError:
            raise AssertionError(f"the server neither sent nor closed after {got} messages")
        return got

    slow_task = asyncio.create_task(slow())
    await asyncio.gather(*(fast(i) for i in range(clients - 1)))
    print("fast-done", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    fast_done.set()
    got = await slow_task
    assert got < count, got
    print(f"ok {clients - 1} {got}")


asyncio.run(main())
