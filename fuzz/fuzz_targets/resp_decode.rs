//! The RESP decoder on arbitrary bytes: no panic; the resumable `Decoder` fed in chunks agrees
//! with the stateless functions at every step; need-more consumes nothing; and every decoded
//! frame or array command re-encodes to bytes that decode to the same value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use quasar_redis::{decode, decode_command, encode_command, Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    // Small caps so that the limit paths are reached with small inputs.
    let mut limits = Limits::default();
    limits.max_bulk_len = 256;
    limits.max_aggregate_len = 16;
    limits.max_depth = 8;
    limits.max_line_len = 64;
    limits.max_inline_len = 128;
    limits.max_frame_len = 2048;
    let command = control & 1 == 1;
    let chunk = usize::from(control >> 1).max(1);

    let mut decoder = Decoder::new(limits.clone());
    let mut stateful = BytesMut::new();
    let mut stateless = BytesMut::new();
    'feed: for piece in input.chunks(chunk) {
        stateful.extend_from_slice(piece);
        stateless.extend_from_slice(piece);
        loop {
            let before = stateful.len();
            let progressed = if command {
                let a = decoder.decode_command(&mut stateful);
                let b = decode_command(&mut stateless, &limits);
                assert_eq!(a, b);
                match a {
                    Ok(Some(args)) => {
                        let mut wire = BytesMut::new();
                        encode_command(&mut wire, &args);
                        let again = decode_command(&mut wire, &limits);
                        // Inline arguments obey the same count and size caps as array ones,
                        // so their array form passes the same limits.
                        assert_eq!(again, Ok(Some(args)));
                        assert!(wire.is_empty());
                        true
                    }
                    Ok(None) => false,
                    Err(_) => break 'feed,
                }
            } else {
                let a = decoder.decode(&mut stateful);
                let b = decode(&mut stateless, &limits);
                assert_eq!(a, b);
                match a {
                    Ok(Some(frame)) => {
                        let mut wire = BytesMut::new();
                        frame.encode(&mut wire);
                        // The canonical form can be longer than the input (`,1e5` is written
                        // `,100000`), so it is read back under the default caps.
                        assert_eq!(decode(&mut wire, &Limits::default()), Ok(Some(frame)));
                        assert!(wire.is_empty());
                        true
                    }
                    Ok(None) => false,
                    Err(_) => break 'feed,
                }
            };
            assert_eq!(stateful, stateless);
            if progressed {
                assert!(stateful.len() < before);
            } else {
                assert_eq!(stateful.len(), before);
                break;
            }
        }
    }
});
