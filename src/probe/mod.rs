//! Probes: ask a daemon whether it serves, and classify the answer.
//!
//! A probe yields `Result<Verdict, ProbeError>`: `Ok` means the daemon is alive (serving, or
//! busy and saying so), `Err` says how it failed. Only failures ever lead to a restart.

pub mod asok;
pub mod connections;
pub mod http;
pub mod s3;

// The vocabulary of probe outcomes is the core's (the machine judges them); the probes use it.
pub use crate::machine::verdict::{describe, ProbeClass, ProbeError, Verdict};

/// The HTTP client of every probe: no proxy from the environment (a probe must reach the daemon
/// itself), no redirects, and a fresh connection per probe (a probe must exercise the daemon's
/// accept path, not a connection that happened to survive).
pub fn client() -> Result<reqwest::Client, ProbeError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .user_agent(concat!("ceph-warden/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| ProbeError::Other(format!("cannot build the HTTP client: {err}")))
}
