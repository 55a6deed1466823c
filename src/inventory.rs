//! The daemons this host (or cluster) runs, as the orchestrator lists them:
//! `ceph orch ps [HOST] --format json` parsed into [`Daemon`]s.
//!
//! The JSON is `DaemonDescription.to_json()` (ceph's
//! `src/pybind/mgr/orchestrator/_interface.py`): keys whose value is `None` are left out, so
//! every field is optional; newer releases add keys, so unknown ones are ignored; `status` is an
//! int from -2 to 2 with `status_desc` beside it; timestamps come with or without a trailing
//! `Z`; and the CLI may print blank lines before the array. A field of an unexpected type is
//! treated as absent rather than failing the whole inventory: one odd entry must not hide the
//! others.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ceph::{CephCli, CephError};

/// What the orchestrator says about a daemon. It is derived from `systemctl is-active` on the
/// host, not from the daemon: a frozen RGW still says `running` (the incident this tool exists for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrchStatus {
    Unknown,
    Error,
    Stopped,
    Running,
    Starting,
}

impl OrchStatus {
    fn from_code(code: i64) -> Self {
        match code {
            -1 => Self::Error,
            0 => Self::Stopped,
            1 => Self::Running,
            2 => Self::Starting,
            _ => Self::Unknown,
        }
    }

    fn from_desc(desc: &str) -> Self {
        match desc {
            "error" => Self::Error,
            "stopped" => Self::Stopped,
            "running" => Self::Running,
            "starting" => Self::Starting,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Error => "error",
            Self::Stopped => "stopped",
            Self::Running => "running",
            Self::Starting => "starting",
        }
    }
}

/// One daemon of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// `<type>.<id>`, the name `ceph orch daemon restart` takes (e.g. `rgw.lab.host1.abcdef`).
    pub name: String,
    /// `rgw`, `node-exporter`, ... (`daemon_type`, else the part of the name before the first `.`).
    pub daemon_type: String,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub ports: Vec<u16>,
    pub status: OrchStatus,
    pub status_desc: Option<String>,
    pub service_name: Option<String>,
    /// When the orchestrator last saw the daemon start.
    pub started: Option<SystemTime>,
}

impl Daemon {
    /// Its service: cephadm's service name, else its type (a static inventory's daemons of a
    /// type are one service). The restart lease and the one-at-a-time rule are per service.
    pub fn service(&self) -> String {
        self.service_name
            .clone()
            .unwrap_or_else(|| self.daemon_type.clone())
    }

    /// Where to reach it: `ip` when the orchestrator knows it, else the host name (cephadm's
    /// ingress does the same).
    pub fn address(&self) -> Option<&str> {
        self.ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .or(self.hostname.as_deref().filter(|h| !h.is_empty()))
    }

    /// The daemon's port: `ports[0]`, as cephadm's ingress uses it.
    pub fn port(&self) -> Option<u16> {
        self.ports.first().copied().filter(|p| *p != 0)
    }

    /// `http://<address>:<port><path>`, or why there is no such URL.
    pub fn http_url(&self, path: &str) -> Result<String, &'static str> {
        let address = self.address().ok_or("no ip or hostname in the inventory")?;
        let port = self.port().ok_or("no port in the inventory")?;
        let host = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address.to_string()
        };
        Ok(format!("http://{host}:{port}{path}"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Ceph(#[from] CephError),
    #[error("`ceph orch ps` printed nothing")]
    Empty,
    #[error("`ceph orch ps` printed invalid JSON ({detail}); it began with: {start}")]
    Json { detail: String, start: String },
    #[error("`ceph orch ps` printed a JSON {found}, not the array of daemons expected; it began with: {start}")]
    NotArray { found: &'static str, start: String },
}

/// Runs `ceph orch ps [HOST] --format json` and parses it.
pub async fn fetch(ceph: &CephCli, host: Option<&str>) -> Result<Vec<Daemon>, InventoryError> {
    let mut command = vec!["orch", "ps"];
    if let Some(host) = host {
        command.push(host);
    }
    command.extend(["--format", "json"]);
    let stdout = ceph.run(&command).await?;
    parse(&stdout)
}

/// Parses the output of `ceph orch ps --format json` (or `json-pretty`).
/// Entries without a usable name are skipped: they cannot be probed by name or restarted.
pub fn parse(text: &str) -> Result<Vec<Daemon>, InventoryError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InventoryError::Empty);
    }
    let value: Value = serde_json::from_str(trimmed).map_err(|err| InventoryError::Json {
        detail: err.to_string(),
        start: excerpt(trimmed),
    })?;
    let entries = match value {
        Value::Array(entries) => entries,
        other => {
            return Err(InventoryError::NotArray {
                found: json_kind(&other),
                start: excerpt(trimmed),
            })
        }
    };
    let mut daemons = Vec::with_capacity(entries.len());
    for entry in &entries {
        match entry.as_object().and_then(daemon_from) {
            Some(daemon) => daemons.push(daemon),
            None => {
                tracing::warn!(entry = %excerpt(&entry.to_string()), "skipping an inventory entry without a daemon name")
            }
        }
    }
    Ok(daemons)
}

fn daemon_from(map: &Map<String, Value>) -> Option<Daemon> {
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let daemon_type = text("daemon_type");
    let name = text("daemon_name").or_else(|| {
        let id = text("daemon_id")?;
        Some(format!("{}.{id}", daemon_type.as_deref()?))
    })?;
    // The seed script's rule, and how cephadm builds the name: type is the part before the first dot.
    let daemon_type = daemon_type.or_else(|| name.split_once('.').map(|(t, _)| t.to_string()))?;
    let ports = map
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default();
    let status_desc = text("status_desc");
    let status = match map.get("status").and_then(Value::as_i64) {
        Some(code) => OrchStatus::from_code(code),
        None => status_desc
            .as_deref()
            .map_or(OrchStatus::Unknown, OrchStatus::from_desc),
    };
    let started = text("started").and_then(|s| parse_timestamp(&s));
    Some(Daemon {
        name,
        daemon_type,
        hostname: text("hostname"),
        ip: text("ip"),
        ports,
        status,
        status_desc,
        service_name: text("service_name"),
        started,
    })
}

/// cephadm writes `2026-11-24T09:22:07.930902Z`; early Octopus wrote the same without `Z`.
/// Both are UTC.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim()).ok()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The first characters of some output, on one line, for an error message.
fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(80)
        .collect();
    if text.chars().count() > 80 {
        format!("{one_line}...")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // Real `ceph orch ps --format json` outputs of a Ceph 16.2.15 cluster, kept in tests/fixtures/.
    const ORCH_PS: &str = include_str!("../tests/fixtures/orch-ps-json.stdout");
    const ORCH_PS_PRETTY: &str = include_str!("../tests/fixtures/orch-ps-json-pretty.stdout");
    const ORCH_PS_NO_BACKEND: &str =
        include_str!("../tests/fixtures/orch-ps-json-no-backend.stdout");

    #[test]
    fn the_real_sample_parses_with_addresses_and_ports() {
        let daemons = parse(ORCH_PS).unwrap();
        let names: Vec<&str> = daemons.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mgr.x",
                "mon.a",
                "node-exporter.localhost",
                "osd.0",
                "rgw.a",
                "rgw.b",
                "rgw.c"
            ]
        );
        let rgw_b = &daemons[5];
        assert_eq!(rgw_b.daemon_type, "rgw");
        assert_eq!(rgw_b.status, OrchStatus::Running);
        assert_eq!(rgw_b.http_url("/").unwrap(), "http://127.0.0.1:18081/");
        assert_eq!(rgw_b.service_name.as_deref(), Some("rgw.lab"));
        let exporter = &daemons[2];
        assert_eq!(exporter.daemon_type, "node-exporter");
        assert_eq!(exporter.ip, None);
        assert_eq!(exporter.http_url("/").unwrap(), "http://localhost:9100/");
        let mon = &daemons[1];
        assert_eq!(mon.http_url("/"), Err("no port in the inventory"));
    }

    #[test]
    fn pretty_output_with_leading_blank_lines_parses_the_same() {
        let padded = format!("\n\n{ORCH_PS_PRETTY}");
        assert_eq!(parse(&padded).unwrap(), parse(ORCH_PS).unwrap());
    }

    #[test]
    fn the_no_backend_output_is_empty() {
        assert!(matches!(
            parse(ORCH_PS_NO_BACKEND),
            Err(InventoryError::Empty)
        ));
    }

    #[test]
    fn every_field_is_optional_and_unknown_fields_are_ignored() {
        // An early-Octopus rgw entry (real user data kept in ceph's orchestrator test
        // `test_dd_octopus`), then entries with bad ports, a time without `Z`, and no name.
        let text = r#"[{"hostname": "ceph-001", "daemon_id": "default-rgw-realm.eu-central-1.1.ceph-001.ytywjo",
            "daemon_type": "rgw", "status": 1, "status_desc": "starting", "is_active": false,
            "brand_new_field": {"x": 1}},
            {"daemon_name": "node-exporter.h1", "status_desc": "error", "ports": ["9100", 70000],
             "started": "2020-04-03T07:29:16.926292"},
            {"status": 1}]"#;
        let daemons = parse(text).unwrap();
        assert_eq!(daemons.len(), 2, "the entry without any name is skipped");
        assert_eq!(
            daemons[0].name,
            "rgw.default-rgw-realm.eu-central-1.1.ceph-001.ytywjo"
        );
        assert_eq!(daemons[0].port(), None);
        assert_eq!(
            daemons[0].status,
            OrchStatus::Running,
            "the int wins over the text"
        );
        assert_eq!(daemons[1].daemon_type, "node-exporter");
        assert_eq!(daemons[1].status, OrchStatus::Error);
        assert!(
            daemons[1].ports.is_empty(),
            "ports of the wrong type are ignored"
        );
        assert_eq!(daemons[1].address(), None);
    }

    #[test]
    fn status_codes_map_to_their_names() {
        for (code, want) in [
            (-2, "unknown"),
            (-1, "error"),
            (0, "stopped"),
            (1, "running"),
            (2, "starting"),
            (7, "unknown"),
        ] {
            assert_eq!(OrchStatus::from_code(code).as_str(), want);
        }
    }

    #[test]
    fn timestamps_with_and_without_z_are_the_same_instant() {
        let with_z = parse_timestamp("2020-04-03T07:29:16.926292Z").unwrap();
        let without = parse_timestamp("2020-04-03T07:29:16.926292").unwrap();
        assert_eq!(with_z, without);
        assert_eq!(
            with_z.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_micros(1_585_898_956_926_292)
        );
    }

    #[test]
    fn garbage_truncated_and_non_array_output_are_errors() {
        let err = parse("Traceback (most recent call last):").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`ceph orch ps` printed invalid JSON"),
            "{err}"
        );
        let truncated = &ORCH_PS[..ORCH_PS.len() / 2];
        assert!(matches!(parse(truncated), Err(InventoryError::Json { .. })));
        let err = parse(r#"{"daemons": []}"#).unwrap_err();
        assert!(
            err.to_string().contains("a JSON object, not the array"),
            "{err}"
        );
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let daemons =
            parse(r#"[{"daemon_name": "rgw.a", "ip": "fd00::5", "ports": [8080]}]"#).unwrap();
        assert_eq!(daemons[0].http_url("/").unwrap(), "http://[fd00::5]:8080/");
    }
}
