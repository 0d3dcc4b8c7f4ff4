//! Decoding a 100-element array of small bulk strings (an `MGET` reply or a long command), and
//! encoding the same as a command: the codec's hot path for a pipelining client or server.
//!
//! `cargo bench -p quasar-baseline --bench resp_decode`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quasar_redis::{decode, decode_command, encode_command, Decoder, Limits};

fn wire() -> (Vec<Vec<u8>>, BytesMut) {
    let args: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("value:{i:04}").into_bytes())
        .collect();
    let mut wire = BytesMut::new();
    encode_command(&mut wire, &args);
    (args, wire)
}

fn bench(c: &mut Criterion) {
    let (args, wire) = wire();
    let limits = Limits::default();
    let mut group = c.benchmark_group("array_of_100_bulks");
    group.throughput(Throughput::Bytes(wire.len() as u64));

    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut buf = wire.clone();
            black_box(decode(&mut buf, &limits).ok().flatten())
        })
    });
    group.bench_function("decode_command", |b| {
        b.iter(|| {
            let mut buf = wire.clone();
            black_box(decode_command(&mut buf, &limits).ok().flatten())
        })
    });
    // The same frame arriving in 64-byte reads: the resumable decoder's case.
    group.bench_function("decoder_64_byte_reads", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(limits.clone());
            let mut buf = BytesMut::with_capacity(wire.len());
            let mut out = None;
            for chunk in wire.chunks(64) {
                buf.extend_from_slice(chunk);
                out = decoder.decode(&mut buf).ok().flatten();
            }
            black_box(out)
        })
    });
    group.bench_function("encode_command", |b| {
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            encode_command(&mut out, &args);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
