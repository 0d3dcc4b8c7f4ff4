//! `maxmemory`: the per-key estimate in `INFO memory`, `-OOM` under `noeviction`, and
//! approximate-LRU eviction under `allkeys-lru`.

use crate::server_support;

use quasar_redis::server::{MaxMemoryPolicy, RespServerConfig};
use server_support::*;

const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

fn config(max: usize, policy: MaxMemoryPolicy) -> RespServerConfig {
    let mut c = RespServerConfig::default();
    c.maxmemory = max;
    c.maxmemory_policy = policy;
    c
}

/// The integer value of `field` in `INFO <section>`.
async fn info_field(c: &mut RawClient, section: &str, field: &str) -> usize {
    let reply = String::from_utf8(c.call(&["INFO", section]).await).expect("utf-8");
    reply
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {reply}"))
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn used_memory_follows_writes_and_deletes() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(info_field(&mut c, "memory", "used_memory").await, 0);
    assert_eq!(c.call(&["SET", "k", &"x".repeat(1000)]).await, b"+OK\r\n");
    let one = info_field(&mut c, "memory", "used_memory").await;
    assert!((1001..1200).contains(&one), "{one}");
    // Growing in place (APPEND, RPUSH) is counted too.
    c.call(&["APPEND", "k", &"y".repeat(1000)]).await;
    let two = info_field(&mut c, "memory", "used_memory").await;
    assert_eq!(two, one + 1000);
    for i in 0..100 {
        c.call(&["RPUSH", "list", &format!("element-{i:04}")]).await;
    }
    let with_list = info_field(&mut c, "memory", "used_memory").await;
    assert!(with_list > two + 100 * 12, "{with_list}");
    assert_eq!(c.call(&["DEL", "k", "list"]).await, b":2\r\n");
    assert_eq!(info_field(&mut c, "memory", "used_memory").await, 0);
    // Expiry and FLUSHALL give the memory back as well.
    c.call(&["SET", "t", "v", "PX", "1"]).await;
    c.call(&["SET", "u", "v"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(c.call(&["GET", "t"]).await, b"$-1\r\n");
    assert!(info_field(&mut c, "memory", "used_memory").await > 0);
    assert_eq!(c.call(&["FLUSHALL"]).await, b"+OK\r\n");
    assert_eq!(info_field(&mut c, "memory", "used_memory").await, 0);
}

#[tokio::test]
async fn incr_changes_a_value_in_place_keeping_its_ttl_and_its_size_counted() {
    let server = start_server(RespServerConfig::default()).await;
    let mut c = RawClient::connect(server.address()).await;
    assert_eq!(c.call(&["SET", "n", "9", "EX", "100"]).await, b"+OK\r\n");
    let one_digit = info_field(&mut c, "memory", "used_memory").await;
    assert_eq!(c.call(&["INCR", "n"]).await, b":10\r\n");
    assert_eq!(
        info_field(&mut c, "memory", "used_memory").await,
        one_digit + 1
    );
    assert_eq!(c.call(&["DECRBY", "n", "1"]).await, b":9\r\n");
    assert_eq!(info_field(&mut c, "memory", "used_memory").await, one_digit);
    assert_eq!(c.call(&["GET", "n"]).await, b"$1\r\n9\r\n");
    let ttl = c.call(&["TTL", "n"]).await;
    assert!(ttl == b":100\r\n" || ttl == b":99\r\n", "{ttl:?}");
    // Refusals leave the value and its count alone.
    assert_eq!(
        c.call(&["INCRBY", "n", &i64::MAX.to_string()]).await,
        b"-ERR increment or decrement would overflow\r\n"
    );
    c.call(&["RPUSH", "l", "a"]).await;
    assert_eq!(
        c.call(&["INCR", "l"]).await,
        &b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"[..]
    );
    assert_eq!(c.call(&["GET", "n"]).await, b"$1\r\n9\r\n");
    // A missing key starts from 0 and is counted as a new key.
    assert_eq!(c.call(&["INCRBY", "m", "-5"]).await, b":-5\r\n");
    assert_eq!(c.call(&["DEL", "n", "l", "m"]).await, b":3\r\n");
    assert_eq!(info_field(&mut c, "memory", "used_memory").await, 0);
}

#[tokio::test]
async fn noeviction_refuses_writes_that_add_memory_but_not_reads_or_deletes() {
    let server = start_server(config(20_000, MaxMemoryPolicy::NoEviction)).await;
    let mut c = RawClient::connect(server.address()).await;
    let value = "v".repeat(1000);
    let mut stored = 0;
    loop {
        let reply = c.call(&["SET", &format!("key:{stored}"), &value]).await;
        if reply == OOM {
            break;
        }
        assert_eq!(reply, b"+OK\r\n");
        stored += 1;
        assert!(stored < 100, "never refused");
    }
    assert!((15..=21).contains(&stored), "{stored} keys stored");
    // Other growing commands are refused alike; reads and deletes are not.
    assert_eq!(c.call(&["LPUSH", "l", "x"]).await, OOM);
    assert_eq!(c.call(&["INCR", "n"]).await, OOM);
    assert_eq!(
        c.call(&["GET", "key:0"]).await,
        format!("$1000\r\n{value}\r\n").as_bytes()
    );
    assert_eq!(c.call(&["DEL", "key:0", "key:1"]).await, b":2\r\n");
    assert_eq!(c.call(&["SET", "again", "1"]).await, b"+OK\r\n");
    // Inside MULTI the refusal happens when queued and aborts the EXEC, as in Redis.
    while c.call(&["SET", &format!("fill:{stored}"), &value]).await != OOM {
        stored += 1;
    }
    assert_eq!(c.call(&["MULTI"]).await, b"+OK\r\n");
    assert_eq!(c.call(&["SET", "x", "1"]).await, OOM);
    assert_eq!(
        c.call(&["EXEC"]).await,
        &b"-EXECABORT Transaction discarded because of previous errors.\r\n"[..]
    );
    assert_eq!(info_field(&mut c, "memory", "maxmemory").await, 20_000);
    let info = String::from_utf8(c.call(&["INFO", "memory"]).await).expect("utf-8");
    assert!(info.contains("maxmemory_policy:noeviction\r\n"), "{info}");
    assert_eq!(
        c.call(&["CONFIG", "GET", "maxmemory*"]).await,
        &b"*4\r\n$9\r\nmaxmemory\r\n$5\r\n20000\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"[..]
    );
}

#[tokio::test]
async fn allkeys_lru_evicts_to_stay_under_the_limit_and_keeps_recent_keys() {
    let max = 200_000;
    let server = start_server(config(max, MaxMemoryPolicy::AllKeysLru)).await;
    let mut c = RawClient::connect(server.address()).await;
    let value = "v".repeat(500);
    // Ten hot keys, read between every write; a stream of cold keys pushes memory over
    // the limit many times over.
    for h in 0..10 {
        c.call(&["SET", &format!("hot:{h}"), &value]).await;
    }
    for i in 0..4000 {
        assert_eq!(
            c.call(&["SET", &format!("cold:{i}"), &value]).await,
            b"+OK\r\n"
        );
        // Later than every cold key's write, so a hot key is never the oldest sampled.
        c.call(&["GET", &format!("hot:{}", i % 10)]).await;
        if i % 8 == 0 {
            for h in 0..10 {
                c.call(&["GET", &format!("hot:{h}")]).await;
            }
        }
    }
    let used = info_field(&mut c, "memory", "used_memory").await;
    // At most one write over the limit at any time.
    assert!(used <= max + 1000, "used {used} > max {max}");
    let evicted = info_field(&mut c, "stats", "evicted_keys").await;
    assert!(evicted > 3000, "evicted {evicted}");
    let mut hot_left = 0;
    for h in 0..10 {
        if c.call(&["EXISTS", &format!("hot:{h}")]).await == b":1\r\n" {
            hot_left += 1;
        }
    }
    // Sampled, not exact LRU: a hot key goes only if all five samples were hot keys.
    assert!(hot_left >= 8, "only {hot_left} of 10 hot keys survived");
}
