//! pulsar's `max_requests` jitter: each worker draws its limit from a log-normal around
//! the configured value (sigma 0.2), so workers started together do not recycle together.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// `int(lognormvariate(ln(n), 0.2))`, at least 1; 0 stays 0 (no limit).
pub(crate) fn lognormal_limit(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let (u1, u2) = (uniform(), uniform());
    // Box-Muller: a standard normal from two uniforms in (0, 1].
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let v = ((n as f64).ln() + 0.2 * z).exp();
    (v as u64).max(1)
}

fn uniform() -> f64 {
    // RandomState is seeded per instance from the OS: enough randomness for a jitter.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    ((h.finish() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_near_the_limit() {
        for _ in 0..200 {
            let v = lognormal_limit(1000);
            // 0.2 sigma: five sigmas either side is e^±1.
            assert!((367..=2719).contains(&v), "{v}");
        }
        assert_eq!(lognormal_limit(0), 0);
    }
}
