//! JSON-RPC request decoding and dispatch over arbitrary bytes, against the calculator.
//! Invariants: no panic; the answer, when there is one, is JSON: a response object, or a
//! non-empty array of them for a batch; nothing is answered for notifications only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasar_http::rpc::{calculator, Methods};
use serde_json::Value;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    static METHODS: Methods = calculator(|| serde_json::json!({"server": "fuzz"}));
}

fn is_response(v: &Value) -> bool {
    v.get("jsonrpc") == Some(&Value::from("2.0"))
        && v.get("id").is_some()
        && (v.get("result").is_some() != v.get("error").is_some())
}

fuzz_target!(|data: &[u8]| {
    let answer = METHODS.with(|m| RUNTIME.with(|rt| rt.block_on(m.handle(data))));
    let Some(answer) = answer else { return };
    // Ids are echoed byte for byte, so a `1e400` id makes the answer JSON that only a
    // lenient reader takes: check the structure through a raw value instead of f64s.
    let answer: &serde_json::value::RawValue =
        serde_json::from_slice(&answer).expect("the answer is JSON");
    let text = answer.get();
    if text.starts_with('[') {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).expect("an array");
        assert!(!items.is_empty(), "an empty batch answer");
        for item in items {
            assert!(item.get().starts_with('{'));
        }
    } else if let Ok(v) = serde_json::from_str::<Value>(text) {
        assert!(is_response(&v), "not a response: {text}");
    }
});
