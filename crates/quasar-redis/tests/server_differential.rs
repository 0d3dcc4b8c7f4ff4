//! One table of commands and their exact replies, run against the quasar server and a
//! real `redis-server`: both must answer every line byte for byte.

use crate::server_support;

use quasar_redis::server::RespServerConfig;
use server_support::*;

/// `(command, exact reply)`, run in order on one connection after `FLUSHALL`.
const TABLE: &[(&[&str], &str)] = &[
    // Connection.
    (&["PING"], "+PONG\r\n"),
    (&["PING", "hi"], "$2\r\nhi\r\n"),
    (&["ECHO", "hello"], "$5\r\nhello\r\n"),
    (&["SELECT", "1"], "+OK\r\n"),
    (&["SET", "in1", "x"], "+OK\r\n"),
    (&["SELECT", "0"], "+OK\r\n"),
    (&["EXISTS", "in1"], ":0\r\n"),
    (&["SELECT", "16"], "-ERR DB index is out of range\r\n"),
    (&["SELECT", "x"], "-ERR value is not an integer or out of range\r\n"),
    (&["AUTH", "pw"], "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
    // Errors.
    (&["FOO"], "-ERR unknown command 'FOO', with args beginning with: \r\n"),
    (&["foo", "a", "b"], "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"),
    (&["GET"], "-ERR wrong number of arguments for 'get' command\r\n"),
    (&["GET", "a", "b"], "-ERR wrong number of arguments for 'get' command\r\n"),
    (&["SET", "k"], "-ERR wrong number of arguments for 'set' command\r\n"),
    (&["MSET", "a", "1", "b"], "-ERR wrong number of arguments for 'mset' command\r\n"),
    (&["HSET", "h", "f"], "-ERR wrong number of arguments for 'hset' command\r\n"),
    // Strings.
    (&["SET", "s", "v"], "+OK\r\n"),
    (&["GET", "s"], "$1\r\nv\r\n"),
    (&["GET", "missing"], "$-1\r\n"),
    (&["SET", "s", "w", "NX"], "$-1\r\n"),
    (&["SET", "s", "w", "XX"], "+OK\r\n"),
    (&["SET", "new", "w", "XX"], "$-1\r\n"),
    (&["SET", "s", "z", "GET"], "$1\r\nw\r\n"),
    (&["SET", "s", "v", "NX", "XX"], "-ERR syntax error\r\n"),
    (&["SET", "s", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"),
    (&["SET", "s", "v", "EX", "x"], "-ERR value is not an integer or out of range\r\n"),
    (&["SET", "s", "v", "BOGUS"], "-ERR syntax error\r\n"),
    (&["SET", "t", "v", "EX", "100"], "+OK\r\n"),
    (&["TTL", "t"], ":100\r\n"),
    (&["SET", "t", "v2", "KEEPTTL"], "+OK\r\n"),
    (&["TTL", "t"], ":100\r\n"),
    (&["SET", "t", "v3"], "+OK\r\n"),
    (&["TTL", "t"], ":-1\r\n"),
    (&["GETDEL", "t"], "$2\r\nv3\r\n"),
    (&["GETDEL", "t"], "$-1\r\n"),
    (&["MSET", "m1", "a", "m2", "b"], "+OK\r\n"),
    (&["MGET", "m1", "nope", "m2"], "*3\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n"),
    (&["MSETNX", "m1", "x", "m3", "y"], ":0\r\n"),
    (&["MSETNX", "m3", "x", "m4", "y"], ":1\r\n"),
    (&["SET", "n", "10"], "+OK\r\n"),
    (&["INCR", "n"], ":11\r\n"),
    (&["DECR", "n"], ":10\r\n"),
    (&["INCRBY", "n", "5"], ":15\r\n"),
    (&["DECRBY", "n", "20"], ":-5\r\n"),
    (&["INCRBY", "n", "x"], "-ERR value is not an integer or out of range\r\n"),
    (&["INCR", "s"], "-ERR value is not an integer or out of range\r\n"),
    (&["SET", "big", "9223372036854775807"], "+OK\r\n"),
    (&["INCR", "big"], "-ERR increment or decrement would overflow\r\n"),
    (&["SET", "f", "10.5"], "+OK\r\n"),
    (&["INCRBYFLOAT", "f", "0.25"], "$5\r\n10.75\r\n"),
    (&["INCRBYFLOAT", "f", "x"], "-ERR value is not a valid float\r\n"),
    (&["INCRBYFLOAT", "newf", "3"], "$1\r\n3\r\n"),
    (&["APPEND", "ap", "Hello"], ":5\r\n"),
    (&["APPEND", "ap", " World"], ":11\r\n"),
    (&["STRLEN", "ap"], ":11\r\n"),
    (&["STRLEN", "nope"], ":0\r\n"),
    (&["GETRANGE", "ap", "0", "4"], "$5\r\nHello\r\n"),
    (&["GETRANGE", "ap", "-5", "-1"], "$5\r\nWorld\r\n"),
    (&["GETRANGE", "ap", "5", "2"], "$0\r\n\r\n"),
    (&["GETRANGE", "ap", "0", "100"], "$11\r\nHello World\r\n"),
    (&["SETRANGE", "ap", "6", "Redis"], ":11\r\n"),
    (&["GET", "ap"], "$11\r\nHello Redis\r\n"),
    (&["SETRANGE", "pad", "3", "x"], ":4\r\n"),
    (&["GET", "pad"], "$4\r\n\x00\x00\x00x\r\n"),
    (&["SETRANGE", "pad", "-1", "x"], "-ERR offset is out of range\r\n"),
    // Keys and expiry.
    (&["DEL", "m1", "m2", "nope"], ":2\r\n"),
    (&["UNLINK", "m3"], ":1\r\n"),
    (&["EXISTS", "m4", "m4", "nope"], ":2\r\n"),
    (&["TYPE", "m4"], "+string\r\n"),
    (&["TYPE", "nope"], "+none\r\n"),
    (&["TTL", "nope"], ":-2\r\n"),
    (&["PTTL", "m4"], ":-1\r\n"),
    (&["EXPIRE", "m4", "100"], ":1\r\n"),
    (&["TTL", "m4"], ":100\r\n"),
    (&["EXPIRE", "m4", "50", "GT"], ":0\r\n"),
    (&["EXPIRE", "m4", "50", "LT"], ":1\r\n"),
    (&["EXPIRE", "m4", "10", "NX"], ":0\r\n"),
    (&["EXPIRE", "m4", "10", "NX", "XX"], "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"),
    (&["EXPIRE", "m4", "x"], "-ERR value is not an integer or out of range\r\n"),
    (&["EXPIRE", "nope", "10"], ":0\r\n"),
    (&["PERSIST", "m4"], ":1\r\n"),
    (&["PERSIST", "m4"], ":0\r\n"),
    (&["PEXPIRE", "m4", "100000"], ":1\r\n"),
    (&["EXPIREAT", "m4", "1"], ":1\r\n"),
    (&["EXISTS", "m4"], ":0\r\n"),
    (&["SET", "r1", "v"], "+OK\r\n"),
    (&["RENAME", "r1", "r2"], "+OK\r\n"),
    (&["GET", "r2"], "$1\r\nv\r\n"),
    (&["RENAME", "r1", "r3"], "-ERR no such key\r\n"),
    (&["FLUSHDB"], "+OK\r\n"),
    (&["MSET", "user:1", "a", "user:2", "b", "other", "c"], "+OK\r\n"),
    (&["KEYS", "user:[1]"], "*1\r\n$6\r\nuser:1\r\n"),
    (&["KEYS", "oth?r"], "*1\r\n$5\r\nother\r\n"),
    (&["DBSIZE"], ":3\r\n"),
    (&["SCAN", "0", "MATCH", "oth*", "COUNT", "1000"], "*2\r\n$1\r\n0\r\n*1\r\n$5\r\nother\r\n"),
    (&["SCAN", "0", "TYPE", "hash"], "*2\r\n$1\r\n0\r\n*0\r\n"),
    (&["SCAN", "x"], "-ERR invalid cursor\r\n"),
    (&["SCAN", "0", "COUNT", "0"], "-ERR syntax error\r\n"),
    (&["SCAN", "0", "BOGUS", "1"], "-ERR syntax error\r\n"),
    // Hashes.
    (&["HSET", "h", "f1", "v1", "f2", "v2"], ":2\r\n"),
    (&["HSET", "h", "f1", "v9"], ":0\r\n"),
    (&["HGET", "h", "f1"], "$2\r\nv9\r\n"),
    (&["HGET", "h", "nope"], "$-1\r\n"),
    (&["HMGET", "h", "f1", "nope", "f2"], "*3\r\n$2\r\nv9\r\n$-1\r\n$2\r\nv2\r\n"),
    (&["HGETALL", "h"], "*4\r\n$2\r\nf1\r\n$2\r\nv9\r\n$2\r\nf2\r\n$2\r\nv2\r\n"),
    (&["HKEYS", "h"], "*2\r\n$2\r\nf1\r\n$2\r\nf2\r\n"),
    (&["HVALS", "h"], "*2\r\n$2\r\nv9\r\n$2\r\nv2\r\n"),
    (&["HLEN", "h"], ":2\r\n"),
    (&["HEXISTS", "h", "f2"], ":1\r\n"),
    (&["HSTRLEN", "h", "f1"], ":2\r\n"),
    (&["HSTRLEN", "h", "nope"], ":0\r\n"),
    (&["HSTRLEN", "nokey", "f1"], ":0\r\n"),
    (&["HSTRLEN", "h"], "-ERR wrong number of arguments for 'hstrlen' command\r\n"),
    (&["HINCRBY", "h", "n", "5"], ":5\r\n"),
    (&["HINCRBY", "h", "f1", "1"], "-ERR hash value is not an integer\r\n"),
    (&["HINCRBY", "h", "n", "x"], "-ERR value is not an integer or out of range\r\n"),
    (&["HDEL", "h", "f1", "f2", "n", "nope"], ":3\r\n"),
    (&["EXISTS", "h"], ":0\r\n"),
    (&["HGETALL", "h"], "*0\r\n"),
    (&["GET", "other"], "$1\r\nc\r\n"),
    (&["HGET", "other", "f"], "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (&["HSTRLEN", "other", "f"], "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    // Lists.
    (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
    (&["LPUSH", "l", "z"], ":4\r\n"),
    (&["LRANGE", "l", "0", "-1"], "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (&["LRANGE", "l", "-2", "100"], "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (&["LRANGE", "l", "5", "10"], "*0\r\n"),
    (&["LLEN", "l"], ":4\r\n"),
    (&["LINDEX", "l", "-1"], "$1\r\nc\r\n"),
    (&["LINDEX", "l", "10"], "$-1\r\n"),
    (&["LPOP", "l"], "$1\r\nz\r\n"),
    (&["RPOP", "l", "2"], "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (&["LPOP", "l", "0"], "*0\r\n"),
    (&["LPOP", "nope", "2"], "*-1\r\n"),
    (&["LPOP", "nope"], "$-1\r\n"),
    (&["LPOP", "l", "-1"], "-ERR value is out of range, must be positive\r\n"),
    (&["RPUSH", "l2", "x", "y", "x", "z", "x"], ":5\r\n"),
    (&["LREM", "l2", "-2", "x"], ":2\r\n"),
    (&["LRANGE", "l2", "0", "-1"], "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"),
    (&["LTRIM", "l2", "1", "-1"], "+OK\r\n"),
    (&["LRANGE", "l2", "0", "-1"], "*2\r\n$1\r\ny\r\n$1\r\nz\r\n"),
    (&["LTRIM", "l2", "5", "10"], "+OK\r\n"),
    (&["EXISTS", "l2"], ":0\r\n"),
    (&["LPUSH", "other", "x"], "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (&["RPUSH", "bl", "v"], ":1\r\n"),
    (&["BLPOP", "empty", "bl", "1"], "*2\r\n$2\r\nbl\r\n$1\r\nv\r\n"),
    (&["BRPOP", "empty", "0.05"], "*-1\r\n"),
    (&["BLPOP", "empty", "x"], "-ERR timeout is not a float or out of range\r\n"),
    (&["BLPOP", "empty", "-1"], "-ERR timeout is negative\r\n"),
    // Sets.
    (&["SADD", "s1", "a", "b", "c"], ":3\r\n"),
    (&["SADD", "s1", "a"], ":0\r\n"),
    (&["SADD", "s2", "c", "d"], ":2\r\n"),
    (&["SISMEMBER", "s1", "a"], ":1\r\n"),
    (&["SISMEMBER", "s1", "z"], ":0\r\n"),
    (&["SCARD", "s1"], ":3\r\n"),
    (&["SINTER", "s1", "s2"], "*1\r\n$1\r\nc\r\n"),
    (&["SINTER", "s1", "nope"], "*0\r\n"),
    (&["SDIFF", "s2", "s1"], "*1\r\n$1\r\nd\r\n"),
    (&["SREM", "s1", "a", "b", "z"], ":2\r\n"),
    (&["SMEMBERS", "s1"], "*1\r\n$1\r\nc\r\n"),
    (&["SUNION", "s1", "nope"], "*1\r\n$1\r\nc\r\n"),
    (&["SREM", "s1", "c"], ":1\r\n"),
    (&["EXISTS", "s1"], ":0\r\n"),
    (&["SADD", "other", "x"], "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    // Sorted sets.
    (&["ZADD", "z", "1", "a", "2", "b", "3", "c"], ":3\r\n"),
    (&["ZADD", "z", "NX", "10", "a", "4", "d"], ":1\r\n"),
    (&["ZADD", "z", "XX", "CH", "1.5", "a", "9", "new"], ":1\r\n"),
    (&["ZADD", "z", "GT", "CH", "1", "a"], ":0\r\n"),
    (&["ZADD", "z", "LT", "CH", "0.5", "a"], ":1\r\n"),
    (&["ZADD", "z", "INCR", "2", "a"], "$3\r\n2.5\r\n"),
    (&["ZADD", "z", "NX", "XX", "1", "a"], "-ERR XX and NX options at the same time are not compatible\r\n"),
    (&["ZADD", "z", "GT", "LT", "1", "a"], "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (&["ZADD", "z", "INCR", "1", "a", "2", "b"], "-ERR INCR option supports a single increment-element pair\r\n"),
    (&["ZADD", "z", "x", "a"], "-ERR value is not a valid float\r\n"),
    (&["ZADD", "z", "1"], "-ERR wrong number of arguments for 'zadd' command\r\n"),
    (&["ZCARD", "z"], ":4\r\n"),
    (&["ZSCORE", "z", "a"], "$3\r\n2.5\r\n"),
    (&["ZSCORE", "z", "nope"], "$-1\r\n"),
    (&["ZRANK", "z", "c"], ":2\r\n"),
    (&["ZRANK", "z", "nope"], "$-1\r\n"),
    (&["ZRANGE", "z", "0", "-1"], "*4\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (&["ZRANGE", "z", "0", "1", "WITHSCORES"], "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$3\r\n2.5\r\n"),
    (&["ZRANGE", "z", "0", "0", "REV"], "*1\r\n$1\r\nd\r\n"),
    (&["ZRANGE", "z", "(2", "+inf", "BYSCORE", "LIMIT", "1", "1"], "*1\r\n$1\r\nc\r\n"),
    (&["ZRANGE", "z", "+inf", "3", "BYSCORE", "REV"], "*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
    (&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    (&["ZRANGE", "z", "x", "1", "BYSCORE"], "-ERR min or max is not a float\r\n"),
    (&["ZRANGEBYSCORE", "z", "-inf", "2.5", "WITHSCORES"], "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$3\r\n2.5\r\n"),
    (&["ZRANGEBYSCORE", "z", "2", "4", "LIMIT", "1", "2"], "*2\r\n$1\r\na\r\n$1\r\nc\r\n"),
    (&["ZINCRBY", "z", "10", "b"], "$2\r\n12\r\n"),
    (&["ZINCRBY", "z", "x", "b"], "-ERR value is not a valid float\r\n"),
    (&["ZREM", "z", "a", "nope"], ":1\r\n"),
    (&["ZRANGE", "z", "0", "-1"], "*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\nb\r\n"),
    (&["ZADD", "other", "1", "x"], "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    // Transactions.
    (&["MULTI"], "+OK\r\n"),
    (&["SET", "tx", "1"], "+QUEUED\r\n"),
    (&["INCR", "tx"], "+QUEUED\r\n"),
    (&["MULTI"], "-ERR MULTI calls can not be nested\r\n"),
    (&["EXEC"], "*2\r\n+OK\r\n:2\r\n"),
    (&["EXEC"], "-ERR EXEC without MULTI\r\n"),
    (&["DISCARD"], "-ERR DISCARD without MULTI\r\n"),
    (&["MULTI"], "+OK\r\n"),
    (&["INCR", "other"], "+QUEUED\r\n"),
    (&["GET", "tx"], "+QUEUED\r\n"),
    (&["EXEC"], "*2\r\n-ERR value is not an integer or out of range\r\n$1\r\n2\r\n"),
    (&["MULTI"], "+OK\r\n"),
    (&["GET"], "-ERR wrong number of arguments for 'get' command\r\n"),
    (&["EXEC"], "-EXECABORT Transaction discarded because of previous errors.\r\n"),
    (&["MULTI"], "+OK\r\n"),
    (&["WATCH", "tx"], "-ERR WATCH inside MULTI is not allowed\r\n"),
    (&["DISCARD"], "+OK\r\n"),
    (&["WATCH", "tx"], "+OK\r\n"),
    (&["SET", "tx", "changed"], "+OK\r\n"),
    (&["MULTI"], "+OK\r\n"),
    (&["GET", "tx"], "+QUEUED\r\n"),
    (&["EXEC"], "*-1\r\n"),
    (&["WATCH", "tx"], "+OK\r\n"),
    (&["UNWATCH"], "+OK\r\n"),
    (&["SET", "tx", "again"], "+OK\r\n"),
    (&["MULTI"], "+OK\r\n"),
    (&["GET", "tx"], "+QUEUED\r\n"),
    (&["EXEC"], "*1\r\n$5\r\nagain\r\n"),
    // Pub/sub, from the publishing side.
    (&["PUBLISH", "nobody", "hi"], ":0\r\n"),
    // Server.
    (&["CONFIG", "GET", "appendonly"], "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
    (&["CONFIG", "GET", "save"], "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
    (&["CLIENT", "SETNAME", "tester"], "+OK\r\n"),
    (&["CLIENT", "GETNAME"], "$6\r\ntester\r\n"),
    (&["CLIENT", "SETNAME", "bad name"], "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
    (&["CLIENT", "NOSUCH"], "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"),
    (&["FLUSHALL"], "+OK\r\n"),
    (&["DBSIZE"], ":0\r\n"),
    // RESP3.
    (&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n"),
    (&["HSET", "h3", "f", "v"], ":1\r\n"),
    (&["SADD", "s3", "m"], ":1\r\n"),
    (&["ZADD", "z3", "1.5", "m"], ":1\r\n"),
];

/// Replies after `HELLO 3` (whose own reply names the server version, so it is not
/// compared).
const RESP3_TABLE: &[(&[&str], &str)] = &[
    (&["GET", "missing"], "_\r\n"),
    (&["HGETALL", "h3"], "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (&["SMEMBERS", "s3"], "~1\r\n$1\r\nm\r\n"),
    (&["ZSCORE", "z3", "m"], ",1.5\r\n"),
    (
        &["ZRANGE", "z3", "0", "-1", "WITHSCORES"],
        "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n",
    ),
    (&["ZINCRBY", "z3", "1", "m"], ",2.5\r\n"),
    (&["LPOP", "nope", "1"], "_\r\n"),
    (&["BLPOP", "nope", "0.05"], "_\r\n"),
    (
        &["CONFIG", "GET", "appendonly"],
        "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
    ),
    (&["MULTI"], "+OK\r\n"),
    (&["ZSCORE", "z3", "m"], "+QUEUED\r\n"),
    (&["EXEC"], "*1\r\n,2.5\r\n"),
    (
        &["SUBSCRIBE", "ch"],
        ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    ),
    (&["GET", "missing"], "_\r\n"),
    (
        &["UNSUBSCRIBE"],
        ">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n",
    ),
];

async fn run_table(addr: std::net::SocketAddr, who: &str) {
    let mut c = RawClient::connect(addr).await;
    assert_eq!(c.call(&["FLUSHALL"]).await, b"+OK\r\n");
    let mut failures = Vec::new();
    let mut run = |cmd: &[&str], got: Vec<u8>, want: &str| {
        if got != want.as_bytes() {
            failures.push(format!(
                "{who}: {cmd:?}\n   want {want:?}\n   got  {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
    };
    for (cmd, want) in TABLE {
        let got = c.call(cmd).await;
        run(cmd, got, want);
    }
    let hello = c.call(&["HELLO", "3"]).await;
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{who}: {:?}",
        String::from_utf8_lossy(&hello)
    );
    for (cmd, want) in RESP3_TABLE {
        let got = c.call(cmd).await;
        run(cmd, got, want);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_quasar_server_answers_the_table_exactly() {
    let server = start_server(RespServerConfig::default()).await;
    run_table(server.address(), "quasar").await;
}

#[tokio::test]
async fn a_real_redis_server_answers_the_same_table() {
    let redis = RedisServer::start().await;
    run_table(redis.addr, "redis-server").await;
}
