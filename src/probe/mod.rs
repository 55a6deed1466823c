//! Probes: ask a daemon whether it serves, and classify the answer.
//!
//! A probe yields `Result<Verdict, ProbeError>`: `Ok` means the daemon is alive (serving, or
//! busy and saying so), `Err` says how it failed. Only failures ever lead to a restart.

pub mod asok;
pub mod connections;
pub mod http;
pub mod s3;

use std::fmt;

use serde::Serialize;

/// A daemon that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It answered with an accepted status (200 by default).
    Ok,
    /// It answered 503 with an S3/Swift throttling or "service unavailable" error body (the
    /// code is kept). RGW produced that answer itself, so it is alive: restarting or draining
    /// a busy RGW only moves its load onto the others (Rook's lesson, facts/ceph-and-peers.md §4).
    Busy { code: String },
    /// A deeper step failed because RADOS is stalled under it (its oldest operation is old):
    /// the cluster is the problem, not this daemon. Draining or restarting would not help.
    Degraded { reason: String },
}

/// A daemon that did not answer as a healthy one does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("http {0}")]
    Http(u16),
    #[error("timeout")]
    Timeout,
    #[error("refused")]
    Refused,
    #[error("dns: {0}")]
    Dns(String),
    #[error("other: {0}")]
    Other(String),
    /// The operator's configuration is wrong (e.g. the S3 canary's credentials): reported
    /// loudly, never a reason to drain or restart.
    #[error("config: {0}")]
    Config(String),
}

/// The one-word class of a probe outcome, for tables, JSON and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeClass {
    Ok,
    Busy,
    Degraded,
    Http,
    Timeout,
    Refused,
    Dns,
    Other,
    Config,
}

impl ProbeClass {
    pub fn of(result: &Result<Verdict, ProbeError>) -> Self {
        match result {
            Ok(Verdict::Ok) => Self::Ok,
            Ok(Verdict::Busy { .. }) => Self::Busy,
            Ok(Verdict::Degraded { .. }) => Self::Degraded,
            Err(ProbeError::Http(_)) => Self::Http,
            Err(ProbeError::Timeout) => Self::Timeout,
            Err(ProbeError::Refused) => Self::Refused,
            Err(ProbeError::Dns(_)) => Self::Dns,
            Err(ProbeError::Other(_)) => Self::Other,
            Err(ProbeError::Config(_)) => Self::Config,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Busy { code } => write!(f, "busy ({code})"),
            Self::Degraded { reason } => write!(f, "degraded ({reason})"),
        }
    }
}

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

/// `ok`, `busy (SlowDown)`, `http 500`, `timeout`, ... : what a table cell shows.
pub fn describe(result: &Result<Verdict, ProbeError>) -> String {
    match result {
        Ok(verdict) => verdict.to_string(),
        Err(err) => err.to_string(),
    }
}
