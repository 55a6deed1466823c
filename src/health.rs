//! The `ceph health detail` gate: slow ops, OSDs down or inactive PGs in the cluster make a
//! probe timeout `degraded` instead of a failure.
//!
//! It can only add caution, and only late: with the only OSD of a 16.2.15 cluster frozen for
//! 40 s, `ceph health` stayed `HEALTH_OK` for the whole stall and `SLOW_OPS` appeared only 36 s
//! after the thaw, so the admin socket and the peer comparison decide the first tens of
//! seconds. It runs on its own timer, bounded by the ceph timeout; probes only read its last
//! answer, and an answer older than three intervals counts as no answer (no caution, no
//! blocking).

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::ceph::CephError;

/// Why the gate could not read the cluster's health: the gate is not running (probe timeouts
/// are judged without it).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// `ceph health detail` failed (no `ceph.conf`, no caps, a hang).
    #[error(transparent)]
    Ceph(#[from] CephError),
    #[error("ceph health detail: not health JSON ({0})")]
    NotJson(#[from] serde_json::Error),
}

#[derive(Debug, Deserialize)]
struct HealthDetail {
    #[serde(default)]
    checks: BTreeMap<String, Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    #[serde(default)]
    summary: Option<Summary>,
    #[serde(default)]
    muted: bool,
}

#[derive(Debug, Deserialize)]
struct Summary {
    #[serde(default)]
    message: String,
}

/// The gating checks present in `ceph health detail --format json`, as one line
/// (`ceph health: SLOW_OPS (1 slow ops, oldest one blocked for 89 sec, osd.0 has slow ops)`),
/// or `None` when none of `codes` is raised. Muted checks do not count: an operator muted them.
pub fn gate(json: &str, codes: &[String]) -> Result<Option<String>, GateError> {
    let detail: HealthDetail = serde_json::from_str(json.trim_start())?;
    let raised: Vec<String> = detail
        .checks
        .iter()
        .filter(|(code, check)| !check.muted && codes.iter().any(|c| c == *code))
        .map(|(code, check)| match &check.summary {
            Some(summary) if !summary.message.is_empty() => {
                let message: String = summary.message.chars().take(120).collect();
                format!("{code} ({message})")
            }
            _ => code.clone(),
        })
        .collect();
    Ok((!raised.is_empty()).then(|| format!("ceph health: {}", raised.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> Vec<String> {
        ["SLOW_OPS", "OSD_DOWN", "PG_AVAILABILITY"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn slow_ops_as_measured_on_the_lab_gate() {
        let json = r#"{"status":"HEALTH_WARN","checks":{"SLOW_OPS":{"severity":"HEALTH_WARN","summary":{"message":"1 slow ops, oldest one blocked for 89 sec, osd.0 has slow ops","count":1},"detail":[],"muted":false}},"mutes":[]}"#;
        assert_eq!(
            gate(json, &codes()).unwrap().as_deref(),
            Some("ceph health: SLOW_OPS (1 slow ops, oldest one blocked for 89 sec, osd.0 has slow ops)")
        );
    }

    #[test]
    fn ok_other_warnings_and_muted_checks_do_not_gate() {
        assert_eq!(
            gate(r#"{"status":"HEALTH_OK","checks":{},"mutes":[]}"#, &codes()).unwrap(),
            None
        );
        let other = r#"{"status":"HEALTH_WARN","checks":{"POOL_NO_REDUNDANCY":{"severity":"HEALTH_WARN","summary":{"message":"1 pool(s) have no replicas configured","count":1}},"OSD_DOWN":{"severity":"HEALTH_WARN","summary":{"message":"1 osds down"},"muted":true}}}"#;
        assert_eq!(gate(other, &codes()).unwrap(), None);
        assert_eq!(gate(other, &[]).unwrap(), None);
    }

    #[test]
    fn several_checks_are_named_in_order_and_garbage_is_an_error() {
        let json = r#"
{"status":"HEALTH_WARN","checks":{"PG_AVAILABILITY":{"summary":{"message":"Reduced data availability: 3 pgs inactive"}},"OSD_DOWN":{"summary":{"message":"1 osds down"}},"X":{}}}"#;
        assert_eq!(
            gate(json, &codes()).unwrap().as_deref(),
            Some("ceph health: OSD_DOWN (1 osds down), PG_AVAILABILITY (Reduced data availability: 3 pgs inactive)")
        );
        let err = gate("Error EACCES: access denied", &codes())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("ceph health detail: not health JSON"),
            "{err}"
        );
    }
}
