"""Talks to the quasar WebSocket echo with the `websockets` library; exits non-zero on failure.

Usage: python ws_client.py ws://HOST:PORT/ws
"""
import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url, max_size=4 * 1024 * 1024, compression=None) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        big = bytes(range(256)) * 4096  # 1 MiB
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)
        await ws.close(code=4001, reason="done")
        assert ws.close_code == 4001, ws.close_code
    print("ok")


asyncio.run(main(sys.argv[1]))
