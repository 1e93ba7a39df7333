//! The ceiling on logins per second that the argon2 parameters set on this machine: one
//! verification's time on one CPU, times the CPUs the server may use.

use std::time::Instant;

use serde::Serialize;
use wharf_users::verify_password;

use crate::aggregate::median;

/// Verifications timed; the median is kept.
const SAMPLES: usize = 5;

/// The measured cost of one login's hash and the rate it allows.
#[derive(Debug, Clone, Serialize)]
pub struct Argon2Cost {
    /// The PHC parameters, e.g. `m=19456,t=2,p=1`.
    pub params: String,
    /// Median time of one verification on one CPU, in ms.
    pub verify_ms: f64,
    /// CPUs the server may use.
    pub server_cpus: usize,
    /// `server_cpus / verify time`: logins per second if every CPU did nothing but hash.
    pub ceiling_logins_per_sec: f64,
}

/// Times verifications of `password` against `hash` (on the calling thread's CPU).
pub fn measure(hash: &str, password: &str, server_cpus: usize) -> Option<Argon2Cost> {
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        if !verify_password(password, hash).ok()? {
            return None;
        }
        times.push(started.elapsed().as_secs_f64());
    }
    let seconds = median(times)?;
    let params = hash
        .split('$')
        .find(|part| part.starts_with("m="))
        .unwrap_or("unknown")
        .to_string();
    Some(Argon2Cost {
        params,
        verify_ms: seconds * 1e3,
        server_cpus: server_cpus.max(1),
        ceiling_logins_per_sec: server_cpus.max(1) as f64 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_users::{HashParams, hash_password};

    #[test]
    fn the_ceiling_scales_with_cpus_and_names_the_parameters() {
        let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
        let one = measure(&hash, "pw", 1).unwrap();
        assert_eq!(one.params, "m=8,t=1,p=1");
        assert!(one.verify_ms > 0.0);
        assert!(one.ceiling_logins_per_sec > 0.0);
        assert!(measure(&hash, "wrong", 1).is_none());
    }
}
