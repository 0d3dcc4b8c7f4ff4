//! Hand-written tokio baselines for quasar's benchmarks.
fn main() {}
