//! The operator commands `status`, `drain`, `undrain`, `restart`, `reset` and `maintenance`:
//! thin clients of the sidecar's HTTP API, with readable output.

use std::time::Duration;

use crate::cli::{Command, OnOff};
use crate::exitcode;

/// Runs a client command; returns the exit code (0 done, 1 refused by the sidecar, 3 the
/// sidecar could not be reached).
pub async fn main(command: Command) -> u8 {
    let (api, method, path, json) = match &command {
        Command::Status { api, json } => (
            &api.api,
            "GET",
            if *json {
                "/status".to_string()
            } else {
                "/".to_string()
            },
            false,
        ),
        Command::Drain(t) => (
            &t.api.api,
            "POST",
            format!("/daemons/{}/drain", t.daemon),
            true,
        ),
        Command::Undrain(t) => (
            &t.api.api,
            "POST",
            format!("/daemons/{}/undrain", t.daemon),
            true,
        ),
        Command::Restart(t) => (
            &t.api.api,
            "POST",
            format!("/daemons/{}/restart", t.daemon),
            true,
        ),
        Command::Reset(t) => (
            &t.api.api,
            "POST",
            format!("/daemons/{}/reset", t.daemon),
            true,
        ),
        Command::Maintenance { target, set } => (
            &target.api.api,
            "POST",
            format!(
                "/daemons/{}/maintenance?set={}",
                target.daemon,
                if *set == OnOff::On { "on" } else { "off" }
            ),
            true,
        ),
        _ => return exitcode::INTERNAL,
    };
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("ceph-warden: error: {err}");
            return exitcode::INTERNAL;
        }
    };
    let request = if method == "GET" {
        client.get(&url)
    } else {
        client.post(&url)
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            eprintln!("ceph-warden: error: cannot reach the sidecar at {api}: {err}");
            return exitcode::ORCHESTRATOR;
        }
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        eprintln!("ceph-warden: {} refused: {}", path, body.trim());
        return exitcode::UNHEALTHY;
    }
    if json {
        print!("{}", readable(&body));
    } else {
        print!("{body}");
    }
    exitcode::OK
}

/// `rgw.a: draining, HAProxy is told "drain" (drained by the operator)` from the daemon JSON.
fn readable(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "{}: {}, HAProxy is told \"{}\" ({})\n",
        text("name"),
        text("state"),
        text("agent_word"),
        text("reason")
    )
}
