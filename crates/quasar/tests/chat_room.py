"""Chat room peers for tests/chat_room.rs, with the `websockets` library.

Usage: python chat_room.py MESSAGES URL [URL ...]

One client per URL (`ws://HOST:PORT/chat?name=NAME`, or no `name` to be known by its
address). Each client first sends "join" and waits to read its own join back: from then on
its room subscription is in place. Once all have joined, each sends MESSAGES messages
"NAME i" and reads until it has every other client's MESSAGES messages and its own: each
message is a JSON object {"message": ..., "from": ...}, `from` is the sender's name (or its
address, HOST:PORT as the server sees it), and one sender's messages arrive in order.

Prints "ok CLIENTS MESSAGES" and exits 0, or fails with a traceback.

Usage: python chat_room.py rpc URL [URL ...]

The clients join, the script prints "joined", and each client waits for the message
{"message": "published by curl", "from": "curl"} that the test publishes through
`chat.publish` on `/rpc`; then it prints "ok CLIENTS rpc".
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import websockets


async def main():
    rpc = sys.argv[1] == "rpc"
    count = 0 if rpc else int(sys.argv[1])
    urls = sys.argv[2:]
    clients = [await websockets.connect(u, compression=None, open_timeout=30) for u in urls]
    names = []
    for url, ws in zip(urls, clients):
        given = parse_qs(urlparse(url).query).get("name")
        host, port = ws.local_address[:2]
        names.append(given[0] if given else f"{host}:{port}")

    async def next_message(ws):
        doc = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert set(doc) == {"message", "from"}, doc
        return doc

    async def join(ws, name):
        await ws.send("join")
        while True:
            doc = await next_message(ws)
            if doc == {"message": "join", "from": name}:
                return

    await asyncio.gather(*(join(ws, n) for ws, n in zip(clients, names)))

    if rpc:
        print("joined", flush=True)
        want = {"message": "published by curl", "from": "curl"}

        async def published(ws):
            while await next_message(ws) != want:
                pass  # a late join of another client

        await asyncio.gather(*(published(ws) for ws in clients))
        for ws in clients:
            await ws.close()
        print(f"ok {len(clients)} rpc", flush=True)
        return

    async def talk(ws, name):
        for i in range(count):
            await ws.send(f"{name} {i}")

    async def listen(ws):
        seen = {n: 0 for n in names}
        while any(v < count for v in seen.values()):
            doc = await next_message(ws)
            if doc["message"] == "join":
                continue  # a late join of another client
            sender, i = doc["message"].rsplit(" ", 1)
            assert doc["from"] == sender, doc
            assert int(i) == seen[sender], f"{sender}: expected {seen[sender]}, got {doc}"
            seen[sender] += 1

    await asyncio.gather(
        *(talk(ws, n) for ws, n in zip(clients, names)),
        *(listen(ws) for ws in clients),
    )
    for ws in clients:
        await ws.close()
    print(f"ok {len(clients)} {count}", flush=True)


asyncio.run(main())
