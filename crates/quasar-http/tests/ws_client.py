"""Talks to the quasar WebSocket echo with the `websockets` library; exits non-zero on failure.

Usage: python ws_client.py ws://HOST:PORT/ws [none|default|tuned|bomb]

- none: compression=None (no permessage-deflate offered).
- default: websockets' default offer (permessage-deflate; client_max_window_bits).
- tuned: no context takeover both ways and small windows (server 10 bits, client 9).
- bomb: a 17 MiB message of zeros (about 17 KiB compressed) must close with 1009.
"""
import asyncio
import sys

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def extensions(ws):
    return ws.response.headers.get("Sec-WebSocket-Extensions")


async def echo_session(url, mode):
    if mode == "none":
        compression = {"compression": None}
    elif mode == "tuned":
        compression = {
            "extensions": [
                ClientPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                    server_max_window_bits=10,
                    client_max_window_bits=9,
                )
            ],
            "compression": None,
        }
    else:
        compression = {}  # websockets' default: "deflate"
    async with websockets.connect(url, max_size=4 * 1024 * 1024, **compression) as ws:
        ext = extensions(ws)
        if mode == "none":
            assert ext is None, ext
        elif mode == "tuned":
            assert ext == (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "server_max_window_bits=10; client_max_window_bits=9"
            ), ext
        else:
            assert ext == "permessage-deflate", ext
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send("")
        assert await ws.recv() == ""
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        # Repeats exercise the kept (or reset) compression context.
        for i in range(20):
            text = "the same words again and again %d " % i * 50
            await ws.send(text)
            assert await ws.recv() == text
        await ws.send(["frag", "mented ", "τεξτ"])  # one message in three frames
        assert await ws.recv() == "fragmented τεξτ"
        big = bytes(range(256)) * 4096  # 1 MiB
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 30)
        await ws.close(code=4001, reason="done")
        assert ws.close_code == 4001, ws.close_code


async def bomb(url):
    async with websockets.connect(url, max_size=None) as ws:
        assert extensions(ws) == "permessage-deflate", extensions(ws)
        await ws.send(bytes(17 * 1024 * 1024))
        try:
            await asyncio.wait_for(ws.recv(), 30)
            raise AssertionError("the server echoed a 17 MiB message")
        except ConnectionClosed:
            pass
        assert ws.close_code == 1009, ws.close_code


async def main(url, mode):
    if mode == "bomb":
        await bomb(url)
    else:
        await echo_session(url, mode)
    print("ok")


asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "none"))
