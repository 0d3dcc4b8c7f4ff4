//! The calculator of `quasar serve http` (`POST /rpc`, WebSocket `/rpc`).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::{Methods, RpcError};

/// The application error code of `calc.divide` by zero.
pub const DIVISION_BY_ZERO: i32 = 1001;

/// Two operands, positional (`[6, 3]`) or named (`{"a": 6, "b": 3}`).
#[derive(Debug, Deserialize)]
struct Operands {
    a: Number,
    b: Number,
}

/// `a op b` in integers when both are integers and the result fits, else in floats.
fn arith(
    Operands { a, b }: Operands,
    int: fn(i64, i64) -> Option<i64>,
    float: fn(f64, f64) -> f64,
) -> Result<Value, RpcError> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(r) = int(x, y) {
            return Ok(r.into());
        }
    }
    let (x, y) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
    );
    Number::from_f64(float(x, y))
        .map(Value::Number)
        .ok_or_else(|| RpcError::new(-32000, "result is not a finite number"))
}

/// The calculator: `calc.add`, `calc.subtract`, `calc.multiply`, `calc.divide` (of two
/// numbers, positional or named `a`, `b`; integers stay integers while exact), `ping`
/// (`"pong"`), `echo` (its params as sent) and `server_info` (`info()`, with the method
/// names). Dividing by zero is the application error [`DIVISION_BY_ZERO`].
///
/// Add a method to what it returns with [`Methods::method`] or
/// [`Methods::method_with`] before mounting it.
///
/// # Examples
///
/// ```
/// use quasar_http::rpc::calculator;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let calc = calculator(|| serde_json::json!({"server": "test"}));
/// let reply = calc
///     .handle(br#"{"jsonrpc":"2.0","method":"calc.divide","params":{"a":7,"b":2},"id":"x"}"#)
///     .await
///     .unwrap();
/// assert_eq!(reply, br#"{"jsonrpc":"2.0","result":3.5,"id":"x"}"#);
/// # });
/// ```
pub fn calculator(info: impl Fn() -> Value + Send + Sync + 'static) -> Methods<()> {
    let calc = Methods::new()
        .method("add", |o: Operands| async move {
            arith(o, i64::checked_add, |x, y| x + y)
        })
        .method("subtract", |o: Operands| async move {
            arith(o, i64::checked_sub, |x, y| x - y)
        })
        .method("multiply", |o: Operands| async move {
            arith(o, i64::checked_mul, |x, y| x * y)
        })
        .method("divide", |o: Operands| async move {
            if o.b.as_f64() == Some(0.0) {
                return Err(RpcError::new(DIVISION_BY_ZERO, "division by zero"));
            }
            let exact = |x: i64, y: i64| (x.checked_rem(y) == Some(0)).then(|| x / y);
            arith(o, exact, |x, y| x / y)
        });
    let info = Arc::new(info);
    let methods = Methods::new()
        .nest("calc", calc)
        .method("ping", |()| async { Ok::<_, RpcError>("pong") })
        .method("echo", |params: Option<Box<RawValue>>| async move {
            Ok::<_, RpcError>(params)
        });
    let mut names: Vec<String> = methods.names().map(str::to_owned).collect();
    names.push("server_info".into());
    names.sort_unstable();
    methods.method("server_info", move |()| {
        let mut doc = info();
        if let Value::Object(map) = &mut doc {
            map.insert("methods".into(), names.clone().into());
        }
        async move { Ok::<_, RpcError>(doc) }
    })
}
