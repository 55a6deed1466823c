//! One cell: one scenario in one setup, once, on a restored lab: HAProxy (and the sidecar or
//! the cron job), the open-loop load, the fault, HAProxy's view polled, then its per-request
//! log read and every client error attributed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use harness::ingress::{self, Haproxy, Outcome};
use harness::sidecar::Sidecar;
use harness::{blocking_command, closed_port, fake_ceph, now, repo_path, TempDir};

use crate::haproxy_log::{self, NO_LOG, OTHER};
use crate::lab_ctx::LabCtx;
use crate::load::{self, Kind, DOWNLOADS, SLOW_CUTOFF_SECONDS};
use crate::BIN;

/// The value behind `mutex`. Its holders only read or assign it, so a panic elsewhere cannot
/// leave it half-written: a poisoned lock is as good as a clean one.
pub fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setup {
    Cephadm,
    Cron,
    HaproxyOnly,
    Warden,
    /// `warden` against the instant orchestrator stand-in (restarts 0.3 s after the ask).
    WardenInstant,
}

impl Setup {
    pub const ALL: [Setup; 5] = [
        Self::Cephadm,
        Self::Cron,
        Self::HaproxyOnly,
        Self::Warden,
        Self::WardenInstant,
    ];
    /// The default run's setups. `cron` (the seed script's job every minute) only when asked
    /// for: with it 7 scenarios x 5 repeats no longer fit in an hour on 2 cores (58 min
    /// estimated, 59.5 taken at 502102a), and the comparison is against `cephadm` and
    /// `haproxy-only`.
    pub const DEFAULT: [Setup; 3] = [Self::Cephadm, Self::HaproxyOnly, Self::Warden];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cephadm => "cephadm",
            Self::Cron => "cron",
            Self::HaproxyOnly => "haproxy-only",
            Self::Warden => "warden",
            Self::WardenInstant => "warden-instant",
        }
    }

    pub fn has_sidecar(self) -> bool {
        matches!(self, Self::Warden | Self::WardenInstant)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    OneFrozen,
    OneKilled,
    AllFrozen,
    Planned,
    OsdFrozen20,
    OsdFrozen45,
    SlowDown,
    AcceptDead,
    LatencySpike,
    SlowRgw,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Self::OneFrozen,
        Self::OneKilled,
        Self::AllFrozen,
        Self::Planned,
        Self::OsdFrozen20,
        Self::OsdFrozen45,
        Self::SlowDown,
    ];

    /// Issue 14's hang classes: run with `--scenarios accept-dead,latency-spike,slow-rgw`
    /// (not in the default hour).
    pub const EXTRA: [Scenario; 3] = [Self::AcceptDead, Self::LatencySpike, Self::SlowRgw];

    pub fn name(self) -> &'static str {
        match self {
            Self::OneFrozen => "one-frozen",
            Self::OneKilled => "one-killed",
            Self::AllFrozen => "all-frozen",
            Self::Planned => "planned-restart",
            Self::OsdFrozen20 => "osd-frozen-20",
            Self::OsdFrozen45 => "osd-frozen-45",
            Self::SlowDown => "slowdown",
            Self::AcceptDead => "accept-dead",
            Self::LatencySpike => "latency-spike",
            Self::SlowRgw => "slow-rgw",
        }
    }

    pub fn title(self, p: &Params) -> String {
        match self {
            Self::OneFrozen => format!("rgw.b frozen (SIGSTOP) for {} s, then thawed", p.freeze.as_secs()),
            Self::OneKilled => format!("rgw.b killed (SIGKILL), started again {} s later (systemd's RestartSec=10s of cephadm's units)", KILLED_FOR.as_secs()),
            Self::AllFrozen => format!("all three RGWs frozen; thawed after {} s if nothing restarted them", p.freeze_all.as_secs()),
            Self::Planned => format!("planned restart of rgw.b with {DOWNLOADS} downloads in flight ({} MiB each read at {} MiB/s, started 1 s before; `ceph-warden restart` for the sidecar setups, `ceph orch daemon restart` otherwise)", load::DOWNLOAD_OBJECT >> 20, load::DOWNLOAD_RATE >> 20),
            Self::OsdFrozen20 => "the OSD frozen (SIGSTOP) for 20 s: a cluster stall, no RGW is at fault".into(),
            Self::OsdFrozen45 => "the OSD frozen (SIGSTOP) for 45 s (longer than `timeout server 30s`): a cluster stall, no RGW is at fault".into(),
            Self::AcceptDead => "rgw.b's accept loop dead (one accept failed with EMFILE: Pacific's beast never accepts on that listener again, Ceph tracker 67338): process and admin socket alive, port open, GET / never answered; only a restart heals it".into(),
            Self::LatencySpike => format!("every RGW slowed, not stalled, for {} s (a 20 ms / 5 ms SIGSTOP/SIGCONT duty cycle on all three: GET / ~10x slower); nothing to drain or restart", LATENCY_WINDOW.as_secs()),
            Self::SlowRgw => format!("rgw.b starved of CPU for {} s (a 90 ms / 10 ms SIGSTOP/SIGCONT duty cycle: it answers, ~40x slower than its peers)", LATENCY_WINDOW.as_secs()),
            Self::SlowDown => "rgw.b throttled for the whole run: its request scheduler (dmclock, experimental in Pacific) limits each request class to about 1 request/s, so under load it answers most requests `503 SlowDown` at once. Alive and answering: the seed cron script restarted such an RGW; figures count from the start of the load".into(),
        }
    }

    /// Load before the fault.
    pub fn lead(self, p: &Params) -> Duration {
        match self {
            Self::SlowDown => Duration::ZERO,
            _ => p.lead,
        }
    }

    /// From the fault to the end of the fault window (a thaw, a start; for the planned
    /// restart the time the sidecar's drain, wait and restart need).
    pub fn window(self, p: &Params) -> Duration {
        match self {
            Self::OneFrozen => p.freeze,
            Self::OneKilled => KILLED_FOR + Duration::from_secs(1),
            Self::AllFrozen => p.freeze_all,
            Self::Planned => p.planned,
            Self::OsdFrozen20 => Duration::from_secs(20),
            Self::OsdFrozen45 => Duration::from_secs(45),
            Self::SlowDown => p.slowdown,
            Self::AcceptDead => p.freeze,
            Self::LatencySpike | Self::SlowRgw => LATENCY_WINDOW,
        }
    }

    pub fn tail(self, p: &Params) -> Duration {
        match self {
            Self::SlowDown => Duration::ZERO,
            _ => p.tail,
        }
    }

    /// The whole load.
    pub fn load(self, p: &Params) -> Duration {
        self.lead(p) + self.window(p) + self.tail(p)
    }

    /// The servers whose rotation the report follows.
    pub fn watches_all(self) -> bool {
        matches!(
            self,
            Self::AllFrozen | Self::OsdFrozen20 | Self::OsdFrozen45 | Self::LatencySpike
        )
    }
}

/// How long the latency-spike and slow-rgw faults last.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(20);

/// A killed RGW's unit starts it again this long after (systemd's RestartSec=10s).
pub const KILLED_FOR: Duration = Duration::from_secs(10);

pub struct Params {
    pub rate: u32,
    pub repeats: usize,
    pub lead: Duration,
    pub tail: Duration,
    /// one-frozen's freeze, all-frozen's, the planned restart's window, slowdown's load.
    pub freeze: Duration,
    pub freeze_all: Duration,
    pub planned: Duration,
    pub slowdown: Duration,
    pub cron_interval: Duration,
    /// The first cron run, after the start of the load.
    pub cron_first: Duration,
    /// After the load, HAProxy's view is followed this much longer at most, until every
    /// server that left the rotation is back.
    pub settle: Duration,
    /// Where each cell's HAProxy log is kept.
    pub logs: PathBuf,
}

/// One request of a cell and what became of it.
pub struct Request {
    pub kind: Kind,
    /// Its `X-Bench-Id`.
    pub id: String,
    pub outcome: Outcome,
}

/// What HAProxy's `show stat` said of one server during a cell.
#[derive(Debug, Clone, Default)]
pub struct ServerTrack {
    /// Seconds after the fault it was first out of rotation (DOWN, `DOWN (agent)`, DRAIN,
    /// MAINT...), and first back UP after that.
    pub out: Option<f64>,
    pub back: Option<f64>,
    /// Times it entered DRAIN/MAINT, and times the agent took it down.
    pub drains: usize,
    pub agent_downs: usize,
    was_drained: bool,
    was_agent_down: bool,
}

pub struct Cell {
    pub setup: Setup,
    pub repeat: usize,
    pub requests: Vec<Request>,
    pub t0: Instant,
    /// Seconds after t0: the fault and what happened (`freeze`, `thaw`, `restart asked`, cron).
    pub marks: Vec<(f64, String)>,
    pub servers: BTreeMap<String, ServerTrack>,
    /// Seconds after the fault of the first 200 to a request sent after it.
    pub first_200: Option<f64>,
    /// `orch daemon restart` calls (the sidecar's, the cron job's, or the planned one).
    pub restarts: usize,
    /// Client errors by cause (haproxy_log::CAUSES), and the rare ones' details.
    pub causes: BTreeMap<&'static str, usize>,
    pub details: BTreeMap<String, usize>,
    /// HAProxy's `Ta` (ms from the request's arrival to the end of the session) of each
    /// attributed error, by cause.
    pub cause_ta: BTreeMap<&'static str, Vec<f64>>,
    /// 200s that HAProxy got only after retrying or redispatching (`retry-on`, `redispatch`).
    pub retried_ok: usize,
    /// Request lines in HAProxy's log, and the lines HAProxy says it dropped (`show info`
    /// DroppedLogs).
    pub log_lines: usize,
    pub dropped_logs: u64,
    /// The planned scenario's downloads HAProxy sent to rgw.b.
    pub downloads_on_b: usize,
    /// The cell's wall time, restore included.
    pub wall: f64,
    /// HAProxy's `show info` Maxconn.
    pub maxconn: String,
    /// The sidecar's config file (lab and run paths as LAB and RUN), for the sidecar setups.
    pub sidecar_config: Option<String>,
}

impl Cell {
    pub fn errors(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.outcome.result != Ok(200))
            .count()
    }
}

fn sleep_until(at: Instant) {
    if let Some(wait) = at.checked_duration_since(now()) {
        std::thread::sleep(wait);
    }
}

/// Polls HAProxy's view every 100 ms until `stop`: for each server when (after `fault`) it
/// first left the rotation and came back, its drains and the agent's downs.
fn watch_rotation(
    haproxy: Arc<Haproxy>,
    tracks: Arc<Mutex<BTreeMap<String, ServerTrack>>>,
    fault: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let stats = haproxy.server_stats();
            let fault = *locked(&fault);
            let mut tracks = locked(&tracks);
            for stat in stats {
                let track = tracks.entry(stat.name.clone()).or_default();
                let (drained, agent_down) = (stat.drained(), stat.agent_down());
                track.drains += usize::from(drained && !track.was_drained);
                track.agent_downs += usize::from(agent_down && !track.was_agent_down);
                (track.was_drained, track.was_agent_down) = (drained, agent_down);
                if let Some(at) = fault {
                    let since = at.elapsed().as_secs_f64();
                    if track.out.is_none() && !stat.in_rotation() {
                        track.out = Some(since);
                    } else if track.out.is_some() && track.back.is_none() && stat.status == "UP" {
                        track.back = Some(since);
                    }
                }
            }
            drop(tracks);
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

pub fn run_cell(
    ctx: &mut LabCtx,
    scenario: Scenario,
    setup: Setup,
    p: &Params,
    repeat: usize,
) -> Cell {
    let begun = now();
    ctx.restore(setup != Setup::WardenInstant);
    let lab = &ctx.lab;
    let tag = format!("bench-{}-{}-{repeat}", scenario.name(), setup.name());
    let lab_dir = lab.dir.display().to_string();
    let dir = TempDir::new(&format!("{tag}-run"));
    let servers = lab.servers();
    let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let ceph_log = dir.path("ceph-argv.log");
    let mut sidecar = None;
    let haproxy = match setup {
        Setup::Warden | Setup::WardenInstant => {
            // Its shipped defaults with what the lab needs (sidecar::LAB_DEFAULTS_OVERRIDES);
            // against cephadm's stand-in the hung-RGW kill a host with `[systemd] fsid` has.
            let kill: Vec<String> = [
                "bash".to_string(),
                repo_path("tests/lab/rgw-ctl.sh").display().to_string(),
                "-d".into(),
                lab_dir.clone(),
                "kill".into(),
                "{id}".into(),
            ]
            .to_vec();
            let s = Sidecar::start_lab_defaults(
                &format!("{tag}-sidecar"),
                BIN,
                &lab_dir,
                (setup == Setup::Warden).then_some(kill.as_slice()),
            );
            crate::live::add_pid(s.pid());
            let h = Haproxy::start_logged(&dir.0, &refs, s.agent_port);
            crate::live::add_pid(haproxy_pid(&h));
            for (name, _) in &servers {
                // The throttled RGW sheds even the sidecar's own probes (1 request/s a
                // class): drained for load before any client comes (docs/design.md §4, busy).
                let throttled = scenario == Scenario::SlowDown && name == "rgw.b";
                s.wait_word(name, "judged", Duration::from_secs(30), |w| {
                    w == "up ready" || (throttled && w == "drain")
                });
            }
            sidecar = Some(s);
            h
        }
        // The shipped config, its agent port one where nothing listens: HAProxy's own checks.
        Setup::HaproxyOnly => Haproxy::start_logged(&dir.0, &refs, closed_port()),
        Setup::Cephadm | Setup::Cron => Haproxy::start_cephadm_stock_logged(&dir.0, &servers),
    };
    if sidecar.is_none() {
        crate::live::add_pid(haproxy_pid(&haproxy));
    }
    for (name, _) in &servers {
        // The throttled RGW may fail cephadm's HTTP check from the start.
        if scenario == Scenario::SlowDown && name == "rgw.b" {
            continue;
        }
        haproxy.wait_status(name, "UP", Duration::from_secs(30), |s| s == "UP");
    }
    let maxconn = haproxy
        .command("show info")
        .lines()
        .find_map(|l| l.strip_prefix("Maxconn:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let sidecar_config = sidecar.as_ref().map(|s| {
        s.config_text()
            .replace(&s.dir.0.display().to_string(), "RUN")
            .replace(&lab_dir, "LAB")
            .replace(&repo_path("").display().to_string(), "")
    });
    let haproxy = Arc::new(haproxy);
    let tracks: Arc<Mutex<BTreeMap<String, ServerTrack>>> = Arc::default();
    let fault_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_rotation(
        Arc::clone(&haproxy),
        Arc::clone(&tracks),
        Arc::clone(&fault_at),
        Arc::clone(&stop),
    );
    let total = scenario.load(p);
    let slow_until = u64::from(p.rate) * total.as_secs().saturating_sub(SLOW_CUTOFF_SECONDS);
    let port = haproxy.port;
    let rate = p.rate;
    let t0 = now();
    let load = std::thread::spawn(move || {
        ingress::open_loop_with(
            rate,
            total,
            Arc::new(move |i| load::mixed_request(port, i, slow_until)),
            None,
            None,
        )
    });
    // The cron job, on its schedule, for the whole run.
    let cron_marks: Arc<Mutex<Vec<(f64, String)>>> = Arc::default();
    let cron = (setup == Setup::Cron).then(|| {
        let config = dir.write(
            "check.toml",
            &format!(
                "state-directory = \"{}\"\n[ceph]\nbinary = \"{}\"\nargs = [\"-c\", \"{lab_dir}/ceph.conf\"]\n",
                dir.path("state").display(),
                fake_ceph()
            ),
        );
        let stop = Arc::clone(&stop);
        let (first, every) = (p.cron_first, p.cron_interval);
        let (lab_dir, ceph_log) = (lab_dir.clone(), ceph_log.clone());
        let cron_marks = Arc::clone(&cron_marks);
        std::thread::spawn(move || {
            let mut next = t0 + first;
            while !stop.load(Ordering::Relaxed) {
                if now() >= next {
                    let started = t0.elapsed().as_secs_f64();
                    let said = blocking_command("timeout")
                        .args(["120", BIN, "check", "--type", "rgw", "--config"])
                        .arg(&config)
                        .env("FAKE_CEPH_LAB_DIR", &lab_dir)
                        .env("FAKE_CEPH_LOG", &ceph_log)
                        .output()
                        .map_or_else(
                            |err| format!("cannot run: {err}"),
                            |o| {
                                let out = String::from_utf8_lossy(&o.stdout).into_owned();
                                let err = String::from_utf8_lossy(&o.stderr).into_owned();
                                let last = out.lines().last().or(err.lines().last()).unwrap_or("").to_string();
                                format!("exit {}: {last}", o.status.code().unwrap_or(-1))
                            },
                        );
                    eprintln!("   cron at {started:.1} s: {said}");
                    locked(&cron_marks).push((started, "cron".to_string()));
                    next += every;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });
    let mut marks = Vec::new();
    let mark = |marks: &mut Vec<(f64, String)>, what: &str| {
        marks.push((t0.elapsed().as_secs_f64(), what.to_string()))
    };
    // Figures count from the moment the fault is in place (the `rgw-ctl.sh` calls take tens
    // of milliseconds each).
    let fault_now = || *locked(&fault_at) = Some(now());
    let lead = scenario.lead(p);
    let window_end = t0 + lead + scenario.window(p);
    let osd = || -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(lab.env("CEPH_LAB_OSD_PID").parse().unwrap_or(0))
    };
    let signal = |pid, signal| {
        let _ = nix::sys::signal::kill(pid, signal);
    };
    // SIGSTOP / SIGCONT (what `rgw-ctl.sh freeze` / `thaw` send) to the RGWs' current pids
    // (the lab's pid files), all at once: three `rgw-ctl.sh` calls took 0.7 s under the load.
    let signal_rgws = |ids: &[&str], sig| {
        for id in ids {
            if let Some(pid) = lab.pid(id).and_then(|p| i32::try_from(p).ok()) {
                signal(nix::unistd::Pid::from_raw(pid), sig);
            }
        }
    };
    let mut downloads = Vec::new();
    match scenario {
        Scenario::OneFrozen => {
            sleep_until(t0 + lead);
            signal_rgws(&["b"], nix::sys::signal::Signal::SIGSTOP);
            fault_now();
            mark(&mut marks, "rgw.b frozen");
            sleep_until(window_end);
            signal_rgws(&["b"], nix::sys::signal::Signal::SIGCONT);
            mark(&mut marks, "thawed");
        }
        Scenario::OneKilled => {
            sleep_until(t0 + lead);
            lab.try_ctl("kill", "b");
            fault_now();
            mark(&mut marks, "rgw.b killed");
            sleep_until(t0 + lead + KILLED_FOR);
            if lab.pid("b").is_none() {
                lab.try_ctl("start", "b");
                mark(&mut marks, "started by its unit");
            }
        }
        Scenario::AllFrozen => {
            sleep_until(t0 + lead);
            let ids: Vec<&str> = lab.ids.iter().map(String::as_str).collect();
            signal_rgws(&ids, nix::sys::signal::Signal::SIGSTOP);
            fault_now();
            mark(&mut marks, "all frozen");
            sleep_until(window_end);
            signal_rgws(&ids, nix::sys::signal::Signal::SIGCONT);
            mark(&mut marks, "thawed");
        }
        Scenario::Planned => {
            sleep_until(t0 + lead.saturating_sub(Duration::from_secs(1)));
            mark(&mut marks, "downloads start");
            downloads = (0..DOWNLOADS)
                .map(|n| std::thread::spawn(move || load::download(port, n)))
                .collect();
            sleep_until(t0 + lead);
            let asked = match &sidecar {
                Some(s) => blocking_command("timeout")
                    .args(["30", BIN, "restart", "rgw.b", "--api"])
                    .arg(format!("http://127.0.0.1:{}", s.http_port))
                    .output(),
                None => blocking_command("timeout")
                    .args(["30", &fake_ceph(), "-c", &format!("{lab_dir}/ceph.conf")])
                    .args(["orch", "daemon", "restart", "rgw.b"])
                    .env("FAKE_CEPH_LAB_DIR", &lab_dir)
                    .env("FAKE_CEPH_LOG", &ceph_log)
                    .output(),
            };
            if let Ok(o) = asked {
                eprintln!(
                    "   restart asked: {}",
                    String::from_utf8_lossy(&o.stdout).trim()
                );
            }
            fault_now();
            mark(&mut marks, "restart asked");
        }
        Scenario::OsdFrozen20 | Scenario::OsdFrozen45 => {
            sleep_until(t0 + lead);
            signal(osd(), nix::sys::signal::Signal::SIGSTOP);
            fault_now();
            mark(&mut marks, "OSD frozen");
            sleep_until(window_end);
            signal(osd(), nix::sys::signal::Signal::SIGCONT);
            mark(&mut marks, "OSD thawed");
        }
        Scenario::AcceptDead => {
            sleep_until(t0 + lead);
            lab.kill_accept_loop("b");
            fault_now();
            mark(&mut marks, "rgw.b's accept loop dead");
            sleep_until(window_end);
        }
        Scenario::LatencySpike | Scenario::SlowRgw => {
            sleep_until(t0 + lead);
            let (ids, stopped, running): (Vec<&str>, u64, u64) = if scenario == Scenario::SlowRgw {
                (vec!["b"], 90, 10)
            } else {
                (lab.ids.iter().map(String::as_str).collect(), 20, 5)
            };
            let cycle = lab.duty_cycle(
                &ids,
                Duration::from_millis(stopped),
                Duration::from_millis(running),
                LATENCY_WINDOW,
            );
            fault_now();
            mark(&mut marks, "slowed");
            let _ = cycle.join();
            mark(&mut marks, "full speed");
        }
        Scenario::SlowDown => {
            // Throttled since before the load: it sheds load as soon as there is some.
            *locked(&fault_at) = Some(t0);
            marks.push((0.0, "rgw.b throttled".to_string()));
        }
    }
    let outcomes = load.join().expect("load");
    let mut requests: Vec<Request> = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| Request {
            kind: Kind::of(i as u64, slow_until),
            id: i.to_string(),
            outcome,
        })
        .collect();
    for (n, d) in downloads.into_iter().enumerate() {
        requests.push(Request {
            kind: Kind::Download,
            id: format!("d{n}"),
            outcome: d.join().expect("download"),
        });
    }
    // Every server that left the rotation back, or `settle` more at most (not for the
    // throttled RGW: nothing brings it back within a cell).
    let settled = now() + p.settle;
    while scenario != Scenario::SlowDown
        && now() < settled
        && locked(&tracks)
            .values()
            .any(|t| t.out.is_some() && t.back.is_none())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(cron) = cron {
        let _ = cron.join();
    }
    let _ = watcher.join();
    marks.extend(locked(&cron_marks).drain(..));
    let fault = locked(&fault_at).expect("fault");
    let first_200 = requests
        .iter()
        .filter(|r| r.outcome.sent >= fault && r.outcome.result == Ok(200))
        .map(|r| {
            (r.outcome.sent + r.outcome.latency)
                .duration_since(fault)
                .as_secs_f64()
        })
        .reduce(f64::min);
    let calls = match &mut sidecar {
        Some(s) => {
            for what in s.event_lines() {
                eprintln!("   sidecar: {what}");
            }
            let pid = s.pid();
            let _ = s.stop_with(nix::sys::signal::Signal::SIGTERM);
            crate::live::remove_pid(pid);
            s.ceph_calls()
        }
        None => std::fs::read_to_string(&ceph_log).unwrap_or_default(),
    };
    let restarts = calls.matches("orch daemon restart").count();
    // Every session ended (so logged) before HAProxy stops: at most 3 s.
    let idle_by = now() + Duration::from_secs(3);
    let info = |field: &str| -> Option<u64> {
        haproxy
            .command("show info")
            .lines()
            .find_map(|l| l.strip_prefix(field).map(|v| v.trim().parse().ok()))?
    };
    while now() < idle_by && info("CurrConns:").is_some_and(|n| n > 0) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let dropped_logs = info("DroppedLogs:").unwrap_or(0);
    // The request log (HAProxy's ring), then HAProxy stopped; both logs kept per cell.
    let log_text = haproxy.request_log();
    let requests_log = dir.write("requests.log", &log_text);
    let pid = haproxy_pid(&haproxy);
    drop(haproxy);
    crate::live::remove_pid(pid);
    keep_log(&p.logs, &tag, &requests_log, "requests");
    keep_log(&p.logs, &tag, &dir.path("haproxy.log"), "haproxy");
    let lines = haproxy_log::parse(&log_text);
    let mut causes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut details: BTreeMap<String, usize> = BTreeMap::new();
    let mut cause_ta: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut retried_ok = 0;
    for r in &requests {
        let line = lines.get(&r.id);
        if r.outcome.result == Ok(200) {
            retried_ok += usize::from(line.is_some_and(|l| l.retries > 0 || l.redispatched));
            continue;
        }
        let (cause, detail) = haproxy_log::cause(&r.outcome, line);
        *causes.entry(cause).or_default() += 1;
        if let Some(ta) = line.map(|l| l.timers[4]).filter(|ta| *ta >= 0) {
            cause_ta.entry(cause).or_default().push(ta as f64);
        }
        if cause == NO_LOG || cause == OTHER {
            *details
                .entry(format!("{} {detail}", r.kind.label()))
                .or_default() += 1;
        }
    }
    let downloads_on_b = requests
        .iter()
        .filter(|r| r.kind == Kind::Download)
        .filter(|r| lines.get(&r.id).is_some_and(|l| l.server == "rgw.b"))
        .count();
    let servers = std::mem::take(&mut *locked(&tracks));
    Cell {
        setup,
        repeat,
        requests,
        t0,
        marks,
        servers,
        first_200,
        restarts,
        causes,
        details,
        cause_ta,
        retried_ok,
        log_lines: lines.len(),
        dropped_logs,
        downloads_on_b,
        wall: begun.elapsed().as_secs_f64(),
        maxconn,
        sidecar_config,
    }
}

fn haproxy_pid(haproxy: &Haproxy) -> i32 {
    i32::try_from(haproxy.pid()).unwrap_or(0)
}

/// A copy of one of the cell's HAProxy logs in `logs` (the run's own directory is removed).
fn keep_log(logs: &Path, tag: &str, log: &Path, what: &str) {
    if std::fs::create_dir_all(logs).is_ok() {
        let _ = std::fs::copy(log, logs.join(format!("{tag}-{what}.log")));
    }
}
