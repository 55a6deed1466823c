//! The plain HTTP probe: `GET <url>` with a deadline, classified.
//!
//! - `ok`: an accepted status (200 unless configured).
//! - `busy`: 503 whose body is an S3 or Swift error with a throttling or unavailable code
//!   (`SlowDown`, `ServiceUnavailable`, ...). RGW answers its rate limiter with `SlowDown` and
//!   `/swift/healthcheck` with `{"Code":"ServiceUnavailable"}` while the operator's
//!   `rgw_healthcheck_disabling_path` file exists (tests/fixtures/http-swift-healthcheck-503.txt).
//!   Either way RGW itself wrote the answer: it is alive.
//! - `http <code>`: any other status; `timeout`: nothing complete within the deadline (a frozen
//!   RGW accepts the TCP connection and never answers); `refused`; `dns`; `other`.
//!
//! Each probe opens a fresh connection (no pooling): a probe must exercise the daemon's accept
//! path, not a connection that happened to survive. Proxies from the environment are ignored.

use std::error::Error as _;
use std::time::Duration;

use tokio::time::Instant;

use super::{ProbeError, Verdict};

/// The S3 / Swift error codes that mean "alive, but shedding load".
const BUSY_CODES: &[&str] = &[
    "SlowDown",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
];

/// How much of a 503 body is read to find its error code.
const MAX_BODY: usize = 16 * 1024;

/// A reusable HTTP prober; cheap to clone (the client is reference-counted).
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    timeout: Duration,
    accept: Vec<u16>,
}

impl HttpProbe {
    pub fn new(timeout: Duration, accept: Vec<u16>) -> Result<Self, ProbeError> {
        let client = super::client()?;
        Ok(Self {
            client,
            timeout,
            accept,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same prober with another deadline (a learned one: `machine::deadline`).
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// Probes `url` and returns the outcome with how long it took.
    pub async fn probe(&self, url: &str) -> (Result<Verdict, ProbeError>, Duration) {
        let start = Instant::now();
        let result = match tokio::time::timeout(self.timeout, self.exchange(url)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ProbeError::Timeout),
        };
        (result, start.elapsed())
    }

    async fn exchange(&self, url: &str) -> Result<Verdict, ProbeError> {
        // A URL the client cannot use is the operator's mistake, never the daemon's failure:
        // a `Config` error drains and restarts nothing.
        let parsed = reqwest::Url::parse(url)
            .map_err(|err| ProbeError::Config(format!("cannot probe {url:?}: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ProbeError::Config(format!(
                "cannot probe {url:?}: not an http:// or https:// URL with a host (e.g. http://127.0.0.1:8080/)"
            )));
        }
        // Resolve first, so a name that does not resolve is told apart from a daemon that
        // refuses; reqwest folds both into one "connect" error.
        let host = parsed.host_str().unwrap_or_default();
        let is_ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok();
        if let (false, Some(port)) = (is_ip, parsed.port_or_known_default()) {
            let name = host;
            match tokio::net::lookup_host((name, port)).await {
                Ok(mut addrs) => {
                    if addrs.next().is_none() {
                        return Err(ProbeError::Dns(format!("{name}: no address")));
                    }
                }
                Err(err) => return Err(ProbeError::Dns(format!("{name}: {err}"))),
            }
        }
        let mut response = self.client.get(parsed).send().await.map_err(classify)?;
        let status = response.status().as_u16();
        if self.accept.contains(&status) {
            return Ok(Verdict::Ok);
        }
        if status != 503 {
            return Err(ProbeError::Http(status));
        }
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        match busy_code(&String::from_utf8_lossy(&body)) {
            Some(code) => Ok(Verdict::Busy { code }),
            None => Err(ProbeError::Http(503)),
        }
    }
}

/// Finds an S3 XML (`<Code>SlowDown</Code>`) or JSON (`"Code":"ServiceUnavailable"`) error code
/// that means "busy".
fn busy_code(body: &str) -> Option<String> {
    let from_xml = body.split_once("<Code>").and_then(|(_, rest)| {
        rest.split_once("</Code>")
            .map(|(code, _)| code.trim().to_string())
    });
    let from_json = || {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()?
            .get("Code")?
            .as_str()
            .map(str::to_string)
    };
    from_xml
        .or_else(from_json)
        .filter(|code| BUSY_CODES.contains(&code.as_str()))
}

pub(crate) fn classify(err: reqwest::Error) -> ProbeError {
    if err.is_timeout() {
        return ProbeError::Timeout;
    }
    // The request could not even be built (a URL the client refuses): configuration.
    if err.is_builder() {
        return ProbeError::Config(error_chain(&err));
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return ProbeError::Refused,
                std::io::ErrorKind::TimedOut => return ProbeError::Timeout,
                _ => {}
            }
        }
        source = cause.source();
    }
    ProbeError::Other(error_chain(&err))
}

/// "error sending request: connection closed before message completed", on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_bodies_are_busy() {
        let slowdown = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><RequestId>tx1</RequestId></Error>"#;
        assert_eq!(busy_code(slowdown).as_deref(), Some("SlowDown"));
        // The body of a real `/swift/healthcheck` 503 (healthcheck disabled by the operator).
        let sample = include_str!("../../tests/fixtures/http-swift-healthcheck-503.txt");
        let (_, body) = sample
            .split_once("\n\n")
            .or(sample.split_once("\r\n\r\n"))
            .unwrap();
        assert_eq!(busy_code(body).as_deref(), Some("ServiceUnavailable"));
    }

    #[test]
    fn other_503_bodies_are_not_busy() {
        assert_eq!(busy_code("<html>503 Service Unavailable</html>"), None);
        assert_eq!(busy_code(r#"{"Code":"InternalError"}"#), None);
        assert_eq!(busy_code(""), None);
    }
}
