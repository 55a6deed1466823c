//! `ceph-warden check`: the seed cron job (`check_ceph_daemons.py`), done right.
//!
//! Like the seed: one `ceph orch ps --format json`, the daemon type taken from the inventory,
//! `GET http://<ip or host>:<ports[0]>/` with a 5 s timeout to every `rgw` and `node-exporter`,
//! and `ceph orch daemon restart <name>` for each daemon that failed. Unlike the seed
//! (docs/design.md §9): probes run concurrently (bounded), a 503 SlowDown is busy and never
//! restarted, at most `--max-restarts` restarts per run, a daemon the orchestrator lists as
//! stopped or without a port is reported as skipped instead of probed, a `ceph` that fails,
//! hangs or prints garbage restarts nothing, a lock keeps overlapping runs apart, and the exit
//! code says what happened ([`crate::exitcode`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{CheckArgs, Format};
use crate::config::{CheckConfig, Config};
use crate::exitcode;
use crate::inventory::{self, Daemon, OrchStatus};
use crate::lock::{CheckLock, LockError};
use crate::orchestrate::ceph::CephOrch;
use crate::orchestrate::Orchestrator;
use crate::probe::http::HttpProbe;
use crate::probe::{self, ProbeClass, ProbeError, Verdict};

/// The config's `[check]` section with the command-line flags applied on top.
#[derive(Debug, Clone)]
pub struct Settings {
    pub check: CheckConfig,
    pub dry_run: bool,
}

impl Settings {
    pub fn new(cfg: &Config, args: &CheckArgs) -> Self {
        let check = &cfg.check;
        Self {
            check: CheckConfig {
                types: if args.types.is_empty() {
                    check.types.clone()
                } else {
                    args.types.clone()
                },
                host: args.host.clone().or_else(|| check.host.clone()),
                timeout: args.timeout.unwrap_or(check.timeout),
                max_restarts: args.max_restarts.unwrap_or(check.max_restarts),
                ..check.clone()
            },
            dry_run: args.dry_run,
        }
    }
}

/// The command: lock (unless dry run), inventory, probe, restart, print. Returns the exit code.
pub async fn main(mut cfg: Config, args: CheckArgs) -> u8 {
    apply_flags(&mut cfg, &args);
    let settings = Settings::new(&cfg, &args);
    match check_and_print(&cfg, &settings, args.format).await {
        Ok(exit_code) => exit_code,
        Err(failure) => failure.report(args.format),
    }
}

/// `--ceph`, `--ceph-arg` and `--state-directory` over the config's.
fn apply_flags(cfg: &mut Config, args: &CheckArgs) {
    if let Some(binary) = &args.ceph {
        cfg.ceph.binary.clone_from(binary);
    }
    cfg.ceph.args.extend(args.ceph_args.iter().cloned());
    if let Some(dir) = &args.state_directory {
        cfg.state_directory.clone_from(dir);
    }
}

/// Runs the check under the lock and prints its report; the report's exit code.
async fn check_and_print(cfg: &Config, settings: &Settings, format: Format) -> Result<u8, Failure> {
    // A dry run changes nothing, so it neither needs nor takes the lock: an operator can look
    // while the cron run works.
    let _lock = if settings.dry_run {
        None
    } else {
        Some(CheckLock::acquire(&cfg.state_directory).map_err(Failure::lock)?)
    };
    let daemons = inventory::fetch(&cfg.ceph, settings.check.host.as_deref())
        .await
        .map_err(|err| {
            Failure::new(
                exitcode::ORCHESTRATOR,
                format!("{err}; nothing was restarted"),
            )
        })?;
    let prober = HttpProbe::new(settings.check.timeout, settings.check.accept_status.clone())
        .map_err(|err| Failure::new(exitcode::INTERNAL, err.to_string()))?;
    let orchestrator = CephOrch {
        cli: cfg.ceph.clone(),
    };
    let report = run(settings, cfg, daemons, &prober, &orchestrator).await;
    report.print(format)?;
    Ok(report.exit_code)
}

/// Why `check` could not do its job: the exit code, and what to tell the operator.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: String) -> Self {
        Self { code, message }
    }

    fn lock(err: LockError) -> Self {
        let code = match err {
            LockError::Held { .. } => exitcode::LOCKED,
            LockError::Io { .. } => exitcode::ORCHESTRATOR,
        };
        Self::new(code, err.to_string())
    }

    /// Says why on stderr, and with `--format json` as a JSON document on stdout too.
    fn report(self, format: Format) -> u8 {
        eprintln!("ceph-warden: error: {}", self.message);
        if format == Format::Json {
            let body =
                serde_json::json!({"version": 1, "error": self.message, "exit_code": self.code});
            println!("{body}");
        }
        self.code
    }
}

/// Probes the selected daemons of `inventory` and restarts the failed ones (within the limits).
pub async fn run(
    settings: &Settings,
    cfg: &Config,
    inventory: Vec<Daemon>,
    prober: &HttpProbe,
    orchestrator: &impl Orchestrator,
) -> Report {
    let inventory_size = inventory.len();
    let types_in_inventory: BTreeSet<String> =
        inventory.iter().map(|d| d.daemon_type.clone()).collect();
    let selected: Vec<Daemon> = inventory
        .into_iter()
        .filter(|d| settings.check.types.contains(&d.daemon_type))
        .collect();
    let mut rows = probe_all(settings, cfg, &selected, prober).await;
    restart_failed(settings, &selected, &mut rows, orchestrator).await;
    let mut notes = Vec::new();
    if rows.is_empty() {
        notes.push(nothing_selected(
            &settings.check,
            inventory_size,
            &types_in_inventory,
        ));
    }
    let summary = Summary::of(&rows);
    Report {
        version: 1,
        dry_run: settings.dry_run,
        host: settings.check.host.clone(),
        types: settings.check.types.clone(),
        inventory: inventory_size,
        daemons: rows,
        exit_code: summary.exit_code(),
        summary,
        notes,
    }
}

/// Probes everything that can be probed, concurrently, at most `max_concurrent_probes` at
/// once: a row per selected daemon, in inventory order.
async fn probe_all(
    settings: &Settings,
    cfg: &Config,
    selected: &[Daemon],
    prober: &HttpProbe,
) -> Vec<Row> {
    let permits = usize::try_from(settings.check.max_concurrent_probes).unwrap_or(usize::MAX);
    let semaphore = Arc::new(Semaphore::new(permits.max(1)));
    let mut probes = JoinSet::new();
    let mut rows: Vec<Row> = Vec::with_capacity(selected.len());
    for (index, daemon) in selected.iter().enumerate() {
        let url = daemon.http_url(cfg.http_path(&daemon.daemon_type));
        let mut row = Row::new(daemon, url.as_ref().ok().cloned());
        match (daemon.status, url) {
            (OrchStatus::Stopped, _) => row
                .skip("the orchestrator lists it as stopped (ceph orch daemon stop?); not probed"),
            (_, Err(reason)) => row.skip(&format!("{reason}; not probed")),
            (_, Ok(url)) => {
                let prober = prober.clone();
                let semaphore = Arc::clone(&semaphore);
                probes.spawn(async move {
                    let _permit = semaphore.acquire_owned().await;
                    (index, prober.probe(&url).await)
                });
            }
        }
        rows.push(row);
    }
    while let Some(joined) = probes.join_next().await {
        match joined {
            Ok((index, (result, latency))) => {
                if let Some(row) = rows.get_mut(index) {
                    row.record_probe(&result, latency);
                }
                tracing::debug!(daemon = %selected[index].name, result = %probe::describe(&result), ?latency, "probed");
            }
            Err(err) => tracing::error!("a probe task failed: {err}"),
        }
    }
    rows
}

/// Restarts the failed ones, one after the other, in inventory order, at most `max_restarts`.
async fn restart_failed(
    settings: &Settings,
    selected: &[Daemon],
    rows: &mut [Row],
    orchestrator: &impl Orchestrator,
) {
    let max_restarts = settings.check.max_restarts;
    let mut restarts = 0u32;
    for (daemon, row) in selected.iter().zip(rows.iter_mut()) {
        if !row.failed() {
            continue;
        }
        if daemon.status == OrchStatus::Starting {
            row.act(
                ActionKind::NotRestarted,
                "the orchestrator says it is starting",
            );
        } else if settings.dry_run {
            row.act(ActionKind::WouldRestart, "dry run");
        } else if restarts >= max_restarts {
            row.act(
                ActionKind::NotRestarted,
                &format!("max-restarts ({max_restarts}) reached"),
            );
        } else {
            restarts += 1;
            match orchestrator.restart(daemon).await {
                Ok(said) => {
                    tracing::info!(daemon = %daemon.name, probe = row.probe_text(), "restart requested");
                    row.act(ActionKind::RestartRequested, &said);
                }
                Err(err) => {
                    tracing::warn!(daemon = %daemon.name, "restart failed: {err}");
                    row.act(ActionKind::RestartFailed, &err.to_string());
                }
            }
        }
    }
}

/// The note when no daemon was selected: what the inventory held instead.
fn nothing_selected(
    check: &CheckConfig,
    inventory_size: usize,
    types_in_inventory: &BTreeSet<String>,
) -> String {
    let kinds: Vec<&str> = types_in_inventory.iter().map(String::as_str).collect();
    format!(
        "no daemons of type {} in the inventory{} ({} daemons{}{})",
        check.types.join(", "),
        check
            .host
            .as_ref()
            .map(|h| format!(" of host {h}"))
            .unwrap_or_default(),
        inventory_size,
        if kinds.is_empty() { "" } else { ": " },
        kinds.join(", "),
    )
}

/// What `check` saw and did, as printed (`--format json` is this, serialized).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Schema version of this JSON.
    pub version: u32,
    pub dry_run: bool,
    pub host: Option<String>,
    pub types: Vec<String>,
    /// Daemons in the inventory, of every type.
    pub inventory: usize,
    pub daemons: Vec<Row>,
    pub summary: Summary,
    pub notes: Vec<String>,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    #[serde(rename = "type")]
    pub daemon_type: String,
    pub host: Option<String>,
    pub url: Option<String>,
    pub orch_status: OrchStatus,
    /// `ok`, `busy`, `http`, `timeout`, `refused`, `dns`, `other`; absent when skipped.
    pub probe: Option<ProbeClass>,
    /// The full probe outcome (`busy (SlowDown)`, `http 500`), or why it was skipped.
    pub probe_detail: String,
    pub latency_ms: Option<f64>,
    pub action: ActionKind,
    pub action_detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    None,
    Skipped,
    WouldRestart,
    NotRestarted,
    RestartRequested,
    RestartFailed,
}

impl Row {
    fn new(daemon: &Daemon, url: Option<String>) -> Self {
        Self {
            name: daemon.name.clone(),
            daemon_type: daemon.daemon_type.clone(),
            host: daemon.hostname.clone(),
            url,
            orch_status: daemon.status,
            probe: None,
            probe_detail: String::new(),
            latency_ms: None,
            action: ActionKind::None,
            action_detail: None,
        }
    }

    fn skip(&mut self, reason: &str) {
        self.action = ActionKind::Skipped;
        self.probe_detail = format!("skipped: {reason}");
    }

    fn record_probe(&mut self, result: &Result<Verdict, ProbeError>, latency: Duration) {
        self.probe = Some(ProbeClass::of(result));
        self.probe_detail = probe::describe(result);
        self.latency_ms = Some((latency.as_secs_f64() * 10_000.0).round() / 10.0);
    }

    fn failed(&self) -> bool {
        self.probe
            .is_some_and(|p| !matches!(p, ProbeClass::Ok | ProbeClass::Busy))
    }

    fn probe_text(&self) -> &str {
        &self.probe_detail
    }

    fn act(&mut self, kind: ActionKind, detail: &str) {
        self.action = kind;
        self.action_detail = Some(detail.to_string()).filter(|d| !d.is_empty());
    }

    fn action_text(&self) -> String {
        let detail = self.action_detail.as_deref().unwrap_or("");
        let with = |label: &str| {
            if detail.is_empty() {
                label.to_string()
            } else {
                format!("{label}: {detail}")
            }
        };
        match self.action {
            ActionKind::None | ActionKind::Skipped => "-".to_string(),
            ActionKind::WouldRestart => "would restart (dry run)".to_string(),
            ActionKind::NotRestarted => with("not restarted"),
            ActionKind::RestartRequested => with("restart requested"),
            ActionKind::RestartFailed => with("RESTART FAILED"),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub checked: usize,
    pub ok: usize,
    pub busy: usize,
    pub failed: usize,
    pub skipped: usize,
    pub restarts_requested: usize,
    pub restarts_failed: usize,
}

impl Summary {
    fn of(rows: &[Row]) -> Self {
        let mut summary = Self::default();
        for row in rows {
            match row.probe {
                None => summary.skipped += 1,
                Some(ProbeClass::Ok) => summary.ok += 1,
                Some(ProbeClass::Busy) => summary.busy += 1,
                Some(_) => summary.failed += 1,
            }
            match row.action {
                ActionKind::RestartRequested => summary.restarts_requested += 1,
                ActionKind::RestartFailed => summary.restarts_failed += 1,
                _ => {}
            }
        }
        summary.checked = rows.len() - summary.skipped;
        summary
    }

    fn exit_code(&self) -> u8 {
        if self.restarts_failed > 0 {
            exitcode::RESTART_FAILED
        } else if self.failed > 0 {
            exitcode::UNHEALTHY
        } else {
            exitcode::OK
        }
    }
}

impl Report {
    /// The table, or `--format json`'s document, on stdout.
    fn print(&self, format: Format) -> Result<(), Failure> {
        match format {
            Format::Table => print!("{}", self.table()),
            Format::Json => {
                let json = serde_json::to_string_pretty(self).map_err(|err| {
                    Failure::new(
                        exitcode::INTERNAL,
                        format!("cannot encode the report: {err}"),
                    )
                })?;
                println!("{json}");
            }
        }
        Ok(())
    }

    /// The human table: one row per daemon, then notes and the summary line.
    pub fn table(&self) -> String {
        let header = ["NAME", "HOST", "URL", "ORCH", "PROBE", "LATENCY", "ACTION"];
        let cells: Vec<[String; 7]> = self
            .daemons
            .iter()
            .map(|row| {
                [
                    row.name.clone(),
                    row.host.clone().unwrap_or_else(|| "-".into()),
                    row.url.clone().unwrap_or_else(|| "-".into()),
                    row.orch_status.as_str().to_string(),
                    row.probe_detail.clone(),
                    row.latency_ms
                        .map_or_else(|| "-".into(), |ms| format!("{ms:.1}ms")),
                    row.action_text(),
                ]
            })
            .collect();
        let mut out = String::new();
        if !cells.is_empty() {
            out = crate::table::render(header, &cells);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "{} checked ({} in the inventory): {} ok, {} busy, {} failed, {} skipped; restarts: {}{} requested, {} failed; exit {}",
            s.checked,
            self.inventory,
            s.ok,
            s.busy,
            s.failed,
            s.skipped,
            if self.dry_run { "dry run, " } else { "" },
            s.restarts_requested,
            s.restarts_failed,
            self.exit_code,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrate::OrchestrateError;
    use std::sync::Mutex;

    /// Records restarts instead of making them; fails for names in `refuse`.
    #[derive(Default)]
    struct FakeOrchestrator {
        restarted: Mutex<Vec<String>>,
        refuse: Vec<String>,
    }

    impl Orchestrator for FakeOrchestrator {
        async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
            self.restarted.lock().unwrap().push(daemon.name.clone());
            if self.refuse.contains(&daemon.name) {
                return Err(OrchestrateError::Ceph(crate::ceph::CephError::Failed {
                    argv: "ceph orch daemon restart".into(),
                    exit: "exited 22".into(),
                    code: Some(22),
                    stderr: "Error EINVAL: Unable to find daemon(s)".into(),
                }));
            }
            Ok(format!("Scheduled to restart {} on host 'h'", daemon.name))
        }
    }

    /// A loopback port nothing listens on: probes to it are refused at once.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn daemons(port: u16) -> Vec<Daemon> {
        let json = format!(
            r#"[{{"daemon_name": "mon.a", "hostname": "h"}},
               {{"daemon_name": "rgw.a", "hostname": "h", "ip": "127.0.0.1", "ports": [{port}], "status": 1}},
               {{"daemon_name": "rgw.b", "hostname": "h", "ip": "127.0.0.1", "ports": [{port}], "status": 1}},
               {{"daemon_name": "rgw.c", "hostname": "h", "ip": "127.0.0.1", "status": 1}},
               {{"daemon_name": "rgw.d", "hostname": "h", "ip": "127.0.0.1", "ports": [{port}], "status": 0}},
               {{"daemon_name": "rgw.e", "hostname": "h", "ip": "127.0.0.1", "ports": [{port}], "status": 2}},
               {{"daemon_name": "node-exporter.h", "hostname": "h", "ip": "127.0.0.1", "ports": [{port}], "status": 1}}]"#
        );
        inventory::parse(&json).unwrap()
    }

    fn settings(dry_run: bool, max_restarts: u32) -> Settings {
        Settings {
            check: CheckConfig {
                types: vec!["rgw".into(), "node-exporter".into()],
                host: None,
                timeout: Duration::from_secs(5),
                max_restarts,
                max_concurrent_probes: 4,
                accept_status: vec![200],
            },
            dry_run,
        }
    }

    async fn check(settings: &Settings, orchestrator: &FakeOrchestrator) -> Report {
        let cfg = Config::from_toml("", "test").unwrap();
        let prober = HttpProbe::new(settings.check.timeout, vec![200]).unwrap();
        run(
            settings,
            &cfg,
            daemons(closed_port()),
            &prober,
            orchestrator,
        )
        .await
    }

    #[tokio::test]
    async fn failed_daemons_are_restarted_up_to_the_limit_and_the_rest_reported() {
        let orchestrator = FakeOrchestrator::default();
        let report = check(&settings(false, 2), &orchestrator).await;
        let actions: Vec<(&str, ActionKind)> = report
            .daemons
            .iter()
            .map(|r| (r.name.as_str(), r.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("rgw.a", ActionKind::RestartRequested),
                ("rgw.b", ActionKind::RestartRequested),
                ("rgw.c", ActionKind::Skipped),
                ("rgw.d", ActionKind::Skipped),
                ("rgw.e", ActionKind::NotRestarted),
                ("node-exporter.h", ActionKind::NotRestarted),
            ]
        );
        assert_eq!(*orchestrator.restarted.lock().unwrap(), ["rgw.a", "rgw.b"]);
        assert_eq!(report.daemons[0].probe, Some(ProbeClass::Refused));
        assert_eq!(
            report.daemons[2].probe_detail,
            "skipped: no port in the inventory; not probed"
        );
        assert_eq!(
            report.daemons[5].action_detail.as_deref(),
            Some("max-restarts (2) reached")
        );
        assert_eq!(report.exit_code, exitcode::UNHEALTHY);
        let table = report.table();
        assert!(
            table.contains("4 checked (7 in the inventory): 0 ok, 0 busy, 4 failed, 2 skipped"),
            "{table}"
        );
    }

    #[tokio::test]
    async fn a_dry_run_restarts_nothing_and_says_unhealthy() {
        let orchestrator = FakeOrchestrator::default();
        let report = check(&settings(true, 3), &orchestrator).await;
        assert!(orchestrator.restarted.lock().unwrap().is_empty());
        assert_eq!(report.daemons[0].action, ActionKind::WouldRestart);
        assert_eq!(report.exit_code, exitcode::UNHEALTHY);
    }

    #[tokio::test]
    async fn a_failed_restart_has_its_own_exit_code() {
        let orchestrator = FakeOrchestrator {
            refuse: vec!["rgw.b".into()],
            ..FakeOrchestrator::default()
        };
        let report = check(&settings(false, 3), &orchestrator).await;
        assert_eq!(report.daemons[1].action, ActionKind::RestartFailed);
        assert!(report
            .table()
            .contains("RESTART FAILED: `ceph orch daemon restart` exited 22: Error EINVAL"));
        assert_eq!(report.exit_code, exitcode::RESTART_FAILED);
    }

    #[tokio::test]
    async fn an_unknown_type_finds_nothing_and_says_so() {
        let orchestrator = FakeOrchestrator::default();
        let mut s = settings(false, 3);
        s.check.types = vec!["mds".into()];
        let report = check(&s, &orchestrator).await;
        assert!(report.daemons.is_empty());
        assert_eq!(report.exit_code, exitcode::OK);
        assert_eq!(
            report.notes,
            ["no daemons of type mds in the inventory (7 daemons: mon, node-exporter, rgw)"]
        );
    }
}
