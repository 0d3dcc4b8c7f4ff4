//! Properties of the JSON-RPC request decoder, through [`Methods::handle`]: any bytes get
//! a JSON answer or none, never a panic; any JSON value gets a spec-shaped answer; a valid
//! request's id comes back byte for byte; a batch gets one answer per request and none per
//! notification.

use proptest::prelude::*;
use quasar_http::rpc::{calculator, Methods};
use serde_json::{json, Value};

fn methods() -> Methods {
    calculator(|| json!({"server": "prop"}))
}

fn handle(methods: &Methods, message: &[u8]) -> Option<Vec<u8>> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(methods.handle(message))
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z.\\\\\"\u{e9}]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("jsonrpc".to_owned()),
                    Just("method".to_owned()),
                    Just("params".to_owned()),
                    Just("id".to_owned()),
                    "[a-z]{1,4}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON text for an allowed id.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("{n}{n}{n}")),
        (any::<i32>(), 0u32..400).prop_map(|(m, e)| format!("{m}.5e{e}")),
        "[ -~]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]
}

fn method_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("calc.add".to_owned()),
        Just("calc.divide".to_owned()),
        Just("ping".to_owned()),
        Just("echo".to_owned()),
        "[a-z.]{0,10}",
    ]
}

/// An answer is a response object (or, for a batch, a non-empty array of them).
fn check_shape(answer: &Value) {
    let check_one = |r: &Value| {
        let obj = r.as_object().expect("a response object");
        assert_eq!(obj.get("jsonrpc"), Some(&json!("2.0")), "{r}");
        assert!(obj.contains_key("id"), "{r}");
        assert!(
            obj.contains_key("result") ^ obj.contains_key("error"),
            "{r}"
        );
        if let Some(e) = obj.get("error") {
            assert!(e["code"].is_i64() && e["message"].is_string(), "{r}");
        }
    };
    match answer {
        Value::Array(items) => {
            assert!(!items.is_empty());
            items.iter().for_each(check_one);
        }
        other => check_one(other),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_get_json_or_nothing(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Some(answer) = handle(&methods(), &bytes) {
            let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
            check_shape(&answer);
        }
    }

    #[test]
    fn any_json_gets_a_spec_shaped_answer(value in json_value()) {
        let text = serde_json::to_vec(&value).unwrap();
        let answer = handle(&methods(), &text);
        match (&value, answer) {
            // A lone notification, or a batch of them, is the only thing left unanswered.
            (Value::Object(m), None) => prop_assert!(!m.contains_key("id")),
            (Value::Array(items), None) => {
                prop_assert!(items.iter().all(|i| i.is_object() && i.get("id").is_none()));
            }
            (_, None) => prop_assert!(false, "{value} got no answer"),
            (_, Some(answer)) => check_shape(&serde_json::from_slice(&answer).unwrap()),
        }
    }

    #[test]
    fn a_valid_request_gets_its_id_back_exactly(
        id in id_text(),
        method in method_name(),
        params in prop::option::of(prop_oneof![
            prop::collection::vec(json_value(), 0..3).prop_map(Value::Array),
            (any::<i32>(), any::<i32>()).prop_map(|(a, b)| json!({"a": a, "b": b})),
        ]),
    ) {
        let mut text = format!(r#"{{"jsonrpc":"2.0","method":{}"#, serde_json::to_string(&method).unwrap());
        if let Some(p) = &params {
            text.push_str(&format!(r#","params":{p}"#));
        }
        text.push_str(&format!(r#","id":{id}}}"#));
        let answer = handle(&methods(), text.as_bytes()).expect("a request is answered");
        let answer = String::from_utf8(answer).unwrap();
        prop_assert!(answer.ends_with(&format!(r#","id":{id}}}"#)), "{text} -> {answer}");
        check_shape(&serde_json::from_str(&answer).unwrap_or_else(|_| {
            // A 1e400 id is echoed exactly but is not an f64: check the rest of it.
            serde_json::from_str(&answer.replace(&id, "0")).unwrap()
        }));
    }

    #[test]
    fn a_batch_gets_one_answer_per_request(calls in prop::collection::vec((any::<bool>(), method_name()), 1..20)) {
        let items: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (is_call, method))| {
                let mut req = json!({"jsonrpc": "2.0", "method": method, "params": [i, 1]});
                if *is_call {
                    req["id"] = json!(i);
                }
                req
            })
            .collect();
        let wanted = calls.iter().filter(|(is_call, _)| *is_call).count();
        let answer = handle(&methods(), &serde_json::to_vec(&items).unwrap());
        match answer {
            None => prop_assert_eq!(wanted, 0),
            Some(answer) => {
                let answer: Value = serde_json::from_slice(&answer).unwrap();
                let answers = answer.as_array().expect("a batch answer is an array");
                prop_assert_eq!(answers.len(), wanted);
                for a in answers {
                    let i = a["id"].as_u64().unwrap() as usize;
                    prop_assert!(calls[i].0, "answered a notification");
                }
            }
        }
    }
}
