"""Drives the quasar RESP server with the redis-py client: basic commands, a pipeline,
MULTI/EXEC with WATCH, and pub/sub. Exits non-zero (with a message) on any mismatch."""
import sys
import threading
import time

import redis

port = int(sys.argv[1])
protocol = int(sys.argv[2]) if len(sys.argv) > 2 else 2
r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)


def check(got, want, what):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


check(r.ping(), True, "ping")
r.flushall()
check(r.set("a", "1"), True, "set")
check(r.get("a"), "1", "get")
check(r.incr("a"), 2, "incr")
check(r.hset("h", mapping={"f1": "v1", "f2": "v2"}), 2, "hset")
check(r.hgetall("h"), {"f1": "v1", "f2": "v2"}, "hgetall")
check(r.sadd("s", "x", "y"), 2, "sadd")
check(r.smembers("s"), {"x", "y"}, "smembers")
check(r.zadd("z", {"m": 1.5, "n": 2}), 2, "zadd")
check([tuple(x) for x in r.zrange("z", 0, -1, withscores=True)], [("m", 1.5), ("n", 2.0)], "zrange withscores")
check(r.zscore("z", "m"), 1.5, "zscore")

# A pipeline: many commands, one round trip.
p = r.pipeline(transaction=False)
for i in range(100):
    p.set(f"k{i}", i)
for i in range(100):
    p.get(f"k{i}")
res = p.execute()
check(res[:100], [True] * 100, "pipeline sets")
check(res[100:], [str(i) for i in range(100)], "pipeline gets")

# MULTI/EXEC through a transactional pipeline, and WATCH.
p = r.pipeline()
p.incr("counter").incr("counter").get("counter")
check(p.execute(), [1, 2, "2"], "multi/exec")

with r.pipeline() as p:
    p.watch("counter")
    r.set("counter", 100)  # another client changes the watched key
    p.multi()
    p.incr("counter")
    try:
        p.execute()
        sys.exit("watch: EXEC should have been aborted")
    except redis.WatchError:
        pass

# Pub/sub: a subscriber receives what a publisher sends.
ps = r.pubsub()
ps.subscribe("news")
ps.psubscribe("sport.*")
deadline = time.time() + 5
confirmations = 0
while confirmations < 2 and time.time() < deadline:
    m = ps.get_message(timeout=1)
    if m and m["type"] in ("subscribe", "psubscribe"):
        confirmations += 1
check(confirmations, 2, "subscribe confirmations")
pub = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
check(pub.publish("news", "hello"), 1, "publish to a channel")
check(pub.publish("sport.tennis", "ace"), 1, "publish to a pattern")
got = []
while len(got) < 2 and time.time() < deadline:
    m = ps.get_message(timeout=1)
    if m and m["type"] in ("message", "pmessage"):
        got.append((m["type"], m["channel"], m["data"]))
check(got, [("message", "news", "hello"), ("pmessage", "sport.tennis", "ace")], "messages")
ps.close()

# A blocked BLPOP is served by a push from another client.
result = {}


def waiter():
    c = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    result["v"] = c.blpop(["queue"], timeout=5)


t = threading.Thread(target=waiter)
t.start()
time.sleep(0.2)
pub.rpush("queue", "job")
t.join()
check(tuple(result.get("v") or ()), ("queue", "job"), "blpop")
print("redis-py ok")
