//! What the application layer costs per request, counted in heap allocations (a number that
//! does not depend on the machine's load): the same route — a typed path id, shared state, a
//! JSON response — as a plain handler, as a typed handler on `App`, and as an axum 0.8 handler
//! through `TowerHandler`. Each is called through the `Handler` trait, as the server calls it,
//! and its response body taken whole. The counts are printed (`--nocapture`) and bounded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use quasar_http::app::{App, Json, Path, State};
use quasar_http::http::{header, Request, Response};
use quasar_http::server::{Handler, Params, Router, TowerHandler};
use quasar_http::Body;
use serde::Serialize;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator; counting touches only a const thread-local Cell
// and an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Serialize)]
struct Message {
    message: &'static str,
    id: u64,
}

#[derive(Clone)]
struct Greeting(Arc<str>);

fn request() -> Request<Body> {
    Request::get("/json/7").body(Body::empty()).unwrap()
}

/// Allocations of one request through `handler`, after a warm-up request.
fn count(handler: &dyn Handler) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let one = || {
        let req = request();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let resp = rt.block_on(handler.call(req));
        let body = rt.block_on(resp.into_body().to_bytes(1 << 20)).unwrap();
        COUNTING.with(|c| c.set(false));
        assert_eq!(&body[..], br#"{"message":"Hello, World!","id":7}"#);
        ALLOCATIONS.load(Ordering::Relaxed) - before
    };
    one();
    one()
}

fn plain() -> Router {
    let greeting = Greeting("Hello, World!".into());
    Router::new().get("/json/:id", move |req: Request<Body>| {
        let greeting = greeting.clone();
        async move {
            let id = req
                .extensions()
                .get::<Params>()
                .and_then(|p| p.get("id"))
                .and_then(|id| id.parse().ok());
            let Some(id) = id else {
                return Response::builder().status(400).body(Body::empty()).unwrap();
            };
            assert_eq!(&*greeting.0, "Hello, World!");
            let body = serde_json::to_vec(&Message {
                message: "Hello, World!",
                id,
            })
            .unwrap();
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            resp
        }
    })
}

async fn typed(State(g): State<Greeting>, Path(id): Path<u64>) -> Json<Message> {
    assert_eq!(&*g.0, "Hello, World!");
    Json(Message {
        message: "Hello, World!",
        id,
    })
}

fn app() -> App<Greeting> {
    Router::with_state(Greeting("Hello, World!".into())).get("/json/:id", typed)
}

async fn axum_typed(
    axum::extract::State(g): axum::extract::State<Greeting>,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> axum::Json<Message> {
    assert_eq!(&*g.0, "Hello, World!");
    axum::Json(Message {
        message: "Hello, World!",
        id,
    })
}

fn axum_app() -> TowerHandler<axum::Router> {
    let router = axum::Router::new()
        .route("/json/{id}", axum::routing::get(axum_typed))
        .with_state(Greeting("Hello, World!".into()));
    TowerHandler::new(router)
}

#[test]
fn the_typed_layer_costs_few_allocations_over_a_plain_handler() {
    let plain = count(&plain());
    let typed = count(&app());
    let axum = count(&axum_app());
    println!("allocations per request: plain {plain}, typed {typed}, axum via TowerHandler {axum}");
    assert!(plain > 0, "the counter counts");
    assert!(typed <= plain + 2, "plain {plain}, typed {typed}");
}
