//! What the sidecar publishes to its readers (agent, HTTP API, metrics): the machine's
//! [`Snapshot`] plus the context a human needs, and the two renderings of it: plain text for
//! `curl localhost:9481/` and the versioned JSON of `/status` (schema in `docs/status.md`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::machine::{DaemonView, Event, OperatorView, Snapshot};

/// The published state. Built by the shell after every change; readers only `borrow()` it.
#[derive(Debug, Clone)]
pub struct View {
    pub snapshot: Snapshot,
    /// When it was built (the machine's clock) and the wall clock then.
    pub at: Instant,
    pub wall: SystemTime,
    pub host: String,
    /// The configuration file in force; `None`: the built-in defaults.
    pub config_file: Option<std::path::PathBuf>,
    pub inventory: InventoryStatus,
    pub health_gate: HealthGateStatus,
}

/// The `ceph health detail` gate (`run.health-gate`): what it watches, what it found, and why
/// it cannot run when it cannot (then probe timeouts are judged without it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthGateStatus {
    /// The gating checks (`SLOW_OPS`, ...); empty: the gate is off.
    pub checks: Vec<String>,
    /// The raised checks, while fresh.
    pub finding: Option<String>,
    /// The last read failed: the gate is not running.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryStatus {
    /// `ceph-orch` or `static`.
    pub source: String,
    pub last_ok: Option<Instant>,
    /// The last refresh's error, while the last good inventory stays in force.
    pub last_error: Option<String>,
    pub daemons: usize,
    /// The inventory in force came from the state file (the orchestrator did not answer yet).
    pub from_state_file: bool,
}

/// `/status`, schema version 1.
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    pub version: u32,
    pub ceph_warden: &'static str,
    pub host: &'a str,
    pub generated_at: String,
    /// The configuration file in force; `null`: the built-in defaults.
    pub config_file: Option<String>,
    pub inventory: InventoryJson<'a>,
    pub health_gate: &'a HealthGateStatus,
    /// The floor and ceilings of the learned probe deadlines, in milliseconds.
    pub probe_deadline_bounds_ms: crate::machine::Bounds,
    /// `run.max-load-drain-percent`: at most this share of a service drained for load.
    pub max_load_drain_percent: u8,
    pub daemons: Vec<DaemonJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct InventoryJson<'a> {
    pub source: &'a str,
    pub daemons: usize,
    pub age_seconds: Option<f64>,
    pub error: Option<&'a str>,
    pub from_state_file: bool,
}

#[derive(Debug, Serialize)]
pub struct DaemonJson<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub daemon_type: &'a str,
    pub state: crate::machine::State,
    pub agent_word: String,
    pub serving: bool,
    pub reason: &'a str,
    pub since_seconds: f64,
    #[serde(flatten)]
    pub probes: ProbesJson<'a>,
    pub restarts_in_window: u32,
    #[serde(flatten)]
    pub operator: OperatorView,
    pub last_event: Option<&'a str>,
    /// A configuration problem (e.g. wrong S3 canary credentials); it drains nothing.
    pub config_error: Option<&'a str>,
    /// Each probe step's deadline now, learned from its service, in milliseconds.
    pub probe_deadlines_ms: crate::machine::Deadlines,
}

/// The daemon's probes: the last one, and the streaks of passes and failures the hysteresis
/// counts (keys of [`DaemonJson`] in the JSON).
#[derive(Debug, Serialize)]
pub struct ProbesJson<'a> {
    pub last_probe: Option<ProbeJson<'a>>,
    pub ok_streak: u32,
    pub fail_streak: u32,
}

#[derive(Debug, Serialize)]
pub struct ProbeJson<'a> {
    pub class: crate::probe::ProbeClass,
    pub detail: &'a str,
    pub age_seconds: f64,
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl<'a> DaemonJson<'a> {
    /// `now` is the reader's clock.
    fn new(d: &'a DaemonView, now: Instant) -> Self {
        Self {
            name: &d.name,
            daemon_type: &d.daemon_type,
            state: d.state,
            agent_word: d.word.to_string(),
            serving: serving(&d.word),
            reason: &d.reason,
            since_seconds: seconds(now.saturating_duration_since(d.since)),
            probes: ProbesJson {
                last_probe: d.last_probe.as_ref().map(|p| ProbeJson {
                    class: p.class,
                    detail: &p.detail,
                    age_seconds: seconds(now.saturating_duration_since(p.at)),
                }),
                ok_streak: d.streaks.ok,
                fail_streak: d.streaks.failed,
            },
            restarts_in_window: d.restarts_in_window,
            operator: d.operator,
            last_event: d.last_event.as_deref(),
            config_error: d.config_error.as_deref(),
            probe_deadlines_ms: d.deadlines,
        }
    }
}

impl View {
    /// `now` is the reader's clock: ages are as of the request, not of the snapshot.
    pub fn status_json(&self, now: Instant) -> StatusJson<'_> {
        StatusJson {
            version: 1,
            ceph_warden: env!("CARGO_PKG_VERSION"),
            host: &self.host,
            generated_at: humantime::format_rfc3339_millis(self.wall).to_string(),
            config_file: self
                .config_file
                .as_ref()
                .map(|path| path.display().to_string()),
            inventory: InventoryJson {
                source: &self.inventory.source,
                daemons: self.inventory.daemons,
                age_seconds: self
                    .inventory
                    .last_ok
                    .map(|at| seconds(now.saturating_duration_since(at))),
                error: self.inventory.last_error.as_deref(),
                from_state_file: self.inventory.from_state_file,
            },
            health_gate: &self.health_gate,
            probe_deadline_bounds_ms: self.snapshot.deadline_bounds,
            max_load_drain_percent: self.snapshot.load_drain_percent,
            daemons: self
                .snapshot
                .daemons
                .iter()
                .map(|d| DaemonJson::new(d, now))
                .collect(),
        }
    }

    /// The text of `GET /`: one line per daemon, for a human with curl.
    pub fn text(&self, now: Instant) -> String {
        let mut out = String::new();
        self.write_heading(&mut out, now);
        let rows: Vec<[String; 7]> = self
            .snapshot
            .daemons
            .iter()
            .map(|d| text_row(d, now))
            .collect();
        if rows.is_empty() {
            out.push_str("no daemons (yet): waiting for the inventory\n");
            return out;
        }
        out.push_str(&crate::table::render(TEXT_HEADER, &rows));
        out
    }

    /// The lines above the table: the inventory, the configuration file, a gate that cannot run.
    fn write_heading(&self, out: &mut String, now: Instant) {
        let inventory_age = self
            .inventory
            .last_ok
            .map(|at| format!("refreshed {} ago", short(now.saturating_duration_since(at))))
            .unwrap_or_else(|| "never refreshed".into());
        let _ = writeln!(
            out,
            "ceph-warden {} on {}: inventory {} ({} daemons, {}{}){}",
            env!("CARGO_PKG_VERSION"),
            self.host,
            self.inventory.source,
            self.inventory.daemons,
            inventory_age,
            if self.inventory.from_state_file {
                ", from the state file"
            } else {
                ""
            },
            self.inventory
                .last_error
                .as_deref()
                .map(|e| format!(
                    "\n  last refresh FAILED, the last good inventory stays in force: {e}"
                ))
                .unwrap_or_default(),
        );
        match &self.config_file {
            Some(path) => {
                let _ = writeln!(out, "  config: {}", path.display());
            }
            None => {
                let _ = writeln!(out, "  config: none, running on the built-in defaults");
            }
        }
        if let Some(err) = &self.health_gate.error {
            let _ = writeln!(
                out,
                "  health gate CANNOT RUN ({}): {err}; probe timeouts are judged without it",
                self.health_gate.checks.join(", ")
            );
        }
    }
}

const TEXT_HEADER: [&str; 7] = [
    "DAEMON",
    "STATE",
    "AGENT",
    "LAST PROBE",
    "RESTARTS",
    "SINCE",
    "REASON / LAST EVENT",
];

/// One daemon's row of the text view.
fn text_row(d: &DaemonView, now: Instant) -> [String; 7] {
    let probe = d.last_probe.as_ref().map_or_else(
        || "-".to_string(),
        |p| {
            format!(
                "{} ({} ago)",
                p.detail,
                short(now.saturating_duration_since(p.at))
            )
        },
    );
    let mut reason = d.reason.clone();
    if let Some(problem) = &d.config_error {
        reason = format!("CONFIG ERROR: {problem}; {reason}");
    }
    if let Some(event) = &d.last_event {
        reason = format!("{reason}  [{event}]");
    }
    [
        d.name.clone(),
        d.state.to_string(),
        d.word.to_string(),
        probe,
        d.restarts_in_window.to_string(),
        short(now.saturating_duration_since(d.since)),
        reason,
    ]
}

/// Whether HAProxy should send this daemon new requests, by the word it is told.
pub fn serving(word: &crate::machine::Word) -> bool {
    word.in_rotation()
}

/// `1.2s`, `35s`, `4m10s`, `2h3m`: compact ages for the text view.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=9 => format!("{:.1}s", d.as_secs_f64()),
        10..=119 => format!("{s}s"),
        120..=7199 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// One `/events` line.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: Event,
}

/// The recent transitions and actions, newest last, bounded.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<(u64, VecDeque<EventRecord>)>,
}

/// How many events `/events` keeps.
pub const EVENT_CAPACITY: usize = 1000;

impl EventLog {
    pub fn push(&self, event: Event, wall: SystemTime) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.0 += 1;
            let seq = inner.0;
            inner.1.push_back(EventRecord {
                seq,
                time: humantime::format_rfc3339_millis(wall).to_string(),
                event,
            });
            while inner.1.len() > EVENT_CAPACITY {
                inner.1.pop_front();
            }
        }
    }

    /// The events after `since`, as JSON lines.
    pub fn json_lines(&self, since: u64) -> String {
        let mut out = String::new();
        if let Ok(inner) = self.inner.lock() {
            for record in inner.1.iter().filter(|r| r.seq > since) {
                if let Ok(line) = serde_json::to_string(record) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{LastProbe, State, StreakView, Word};
    use crate::probe::ProbeClass;

    /// `/health/<daemon>` (what `option httpchk` users point HAProxy at) and `/status` say
    /// serving for an RGW held during a RADOS stall and for one after a hold: both are in
    /// rotation, and a 503 there would take them out of an httpchk user's rotation for good.
    #[test]
    fn a_held_rgw_and_one_after_a_hold_are_serving() {
        let held = Word::UpReadyLimit {
            weight: None,
            maxconn: 2,
        };
        let after = Word::UpReadyLimit {
            weight: Some(10),
            maxconn: 10_000,
        };
        assert_eq!(held.to_string(), "up ready maxconn:2");
        assert_eq!(after.to_string(), "up ready 10% maxconn:10000");
        assert!(serving(&held) && serving(&after));
        assert!(!serving(&Word::Drain) && !serving(&Word::Down("timeout".into())));
    }

    #[test]
    fn a_daemon_has_the_keys_of_status_md_in_their_order() {
        // Ages are offsets from one origin; its value never shows.
        let t0 = tokio::time::Instant::now().into_std();
        let daemon = DaemonView {
            name: "rgw.a".into(),
            daemon_type: "rgw".into(),
            state: State::Healthy,
            word: Word::UpReady,
            reason: "probes pass".into(),
            since: t0,
            last_probe: Some(LastProbe {
                class: ProbeClass::Ok,
                detail: "ok".into(),
                at: t0 + Duration::from_millis(1250),
            }),
            streaks: StreakView { ok: 3, failed: 0 },
            restarts_in_window: 1,
            operator: OperatorView {
                drained: true,
                ..OperatorView::default()
            },
            last_event: None,
            config_error: None,
            deadlines: crate::machine::Deadlines {
                http: Duration::from_millis(250),
                s3: Duration::from_secs(1),
                asok: Duration::from_millis(250),
            },
        };
        let json =
            serde_json::to_string(&DaemonJson::new(&daemon, t0 + Duration::from_millis(1500)));
        assert_eq!(
            json.unwrap(),
            r#"{"name":"rgw.a","type":"rgw","state":"healthy","agent_word":"up ready","serving":true,"reason":"probes pass","since_seconds":1.5,"last_probe":{"class":"ok","detail":"ok","age_seconds":0.25},"ok_streak":3,"fail_streak":0,"restarts_in_window":1,"maintenance":false,"drained":true,"planned_restart":false,"last_event":null,"config_error":null,"probe_deadlines_ms":{"http":250,"s3":1000,"asok":250}}"#
        );
    }
}
