//! The freeze benchmark (docs/design.md §12-§13): the lab's three real radosgw behind a
//! real HAProxy, under open-loop client load, each fault injected into each setup in one run:
//!
//! - `cephadm`: cephadm's stock ingress HAProxy config (tests/harness/haproxy-cephadm.cfg:
//!   static-rr, `httpchk HEAD /`, `inter 2s`, `timeout check 5s`), nothing else: what users run today;
//! - `cron`: the same, plus `ceph-warden check` every `--cron-interval` seconds (the seed
//!   script's job, done by the project's `check`);
//! - `warden`: the shipped `haproxy/haproxy.cfg` plus `ceph-warden run`;
//! - `warden-instant`: the same against the instant orchestrator of earlier runs.
//!
//! The orchestrator is the project's stand-in (no cephadm here): `tests/lab/fake-cephadm`,
//! cephadm as it behaves (restarts queued behind a serve loop, podman's 10 s stop, a cached
//! `orch ps`), for every setup but `warden-instant`, which keeps `tests/lab/fake-ceph`'s
//! instant restarts (0.3 s after the ask) so the two read side by side. It writes docs/BENCHMARKS.md and one SVG timeline per
//! scenario under docs/bench/. Run: `bash scripts/bench.sh` (or `cargo bench --bench freeze --
//! --help`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use harness::ingress::{self, percentile, Haproxy, Outcome};
use harness::lab::Lab;
use harness::sidecar::{self, Sidecar};
use harness::{blocking_command, fake_ceph, now, repo_path, stub_server, TempDir};

/// The ceph-warden that cargo built for this bench: the release build (`bench` inherits it).
const BIN: &str = env!("CARGO_BIN_EXE_ceph-warden");

/// The value behind `mutex`. Its holders only read or assign it, so a panic elsewhere cannot
/// leave it half-written: a poisoned lock is as good as a clean one.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What client request `i` of the load is: 3 in 4 a GET of a 4 KiB object, 1 in 4 a 4 KiB
/// anonymous PUT, and 1 in 20 instead a slow download ([`SLOW_OBJECT`] bytes read at
/// [`SLOW_READ_RATE`]: a 4 s request, the kind a restart cuts off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Get,
    Put,
    Slow,
}

const SLOW_OBJECT: usize = 4 << 20;
const SLOW_READ_RATE: usize = 1 << 20;

impl Kind {
    const ALL: [Kind; 3] = [Kind::Get, Kind::Put, Kind::Slow];

    fn of(i: u64) -> Kind {
        if i % 20 == 10 {
            Kind::Slow
        } else if i % 4 == 1 {
            Kind::Put
        } else {
            Kind::Get
        }
    }
}

/// Client request `i` of the mix, through HAProxy on `port`.
fn mixed_request(port: u16, i: u64) -> Outcome {
    match Kind::of(i) {
        Kind::Get => ingress::request(port, "/bench/object", None),
        Kind::Put => {
            ingress::request_with(port, "PUT", &format!("/bench/put-{}", i % 64), 4096, None)
        }
        Kind::Slow => ingress::request(port, "/bench/slow", Some(SLOW_READ_RATE)),
    }
}

/// The RGW's request scheduler settings that make a real radosgw (Pacific) answer `503
/// SlowDown`: dmclock (an experimental feature there) limiting each request class to 1/s.
/// Measured on the lab: 19 of 20 concurrent GETs answered 503 SlowDown within 25 ms; GETs
/// one a second all 200.
/// (`rgw_max_concurrent_requests` alone is ignored by Pacific's default throttler.)
const THROTTLE: [(&str, &str); 7] = [
    (
        "enable_experimental_unrecoverable_data_corrupting_features",
        "dmclock",
    ),
    ("rgw_scheduler_type", "dmclock"),
    ("rgw_dmclock_data_lim", "1"),
    ("rgw_dmclock_data_res", "1"),
    ("rgw_dmclock_metadata_lim", "1"),
    ("rgw_dmclock_metadata_res", "1"),
    ("rgw_max_concurrent_requests", "2"),
];

/// Throttles RGW `id` in the lab's config database and restarts it. The scheduler is chosen
/// at start and its limits are not changed at runtime, so this happens before the load and the
/// sidecar start (a restart under watch is a fault of its own: refused connections).
fn throttle(lab: &Lab, id: &str) {
    let conf = format!("{}/ceph.conf", lab.dir.display());
    let who = format!("client.rgw.{id}");
    for (key, value) in THROTTLE {
        let done = blocking_command("ceph")
            .args(["-c", &conf, "config", "set", &who, key, value])
            .output()
            .expect("ceph config set");
        assert!(done.status.success(), "ceph config set {key}: {done:?}");
    }
    lab.try_ctl("restart", id);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Cephadm,
    Cron,
    Warden,
    /// `warden` against the instant orchestrator stand-in (restarts 0.3 s after the ask).
    WardenInstant,
}

impl Setup {
    const ALL: [Setup; 4] = [Self::Cephadm, Self::Cron, Self::Warden, Self::WardenInstant];

    fn name(self) -> &'static str {
        match self {
            Self::Cephadm => "cephadm",
            Self::Cron => "cron",
            Self::Warden => "warden",
            Self::WardenInstant => "warden-instant",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    OneFrozen,
    OneKilled,
    AllFrozen,
    Planned,
    OsdFrozen,
    SlowDown,
}

impl Scenario {
    const ALL: [Scenario; 6] = [
        Self::OneFrozen,
        Self::OneKilled,
        Self::AllFrozen,
        Self::Planned,
        Self::OsdFrozen,
        Self::SlowDown,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::OneFrozen => "one-frozen",
            Self::OneKilled => "one-killed",
            Self::AllFrozen => "all-frozen",
            Self::Planned => "planned-restart",
            Self::OsdFrozen => "osd-frozen",
            Self::SlowDown => "slowdown",
        }
    }

    fn title(self, p: &Params) -> String {
        match self {
            Self::OneFrozen => format!("rgw.b frozen (SIGSTOP) for {} s, then thawed", p.freeze.as_secs()),
            Self::OneKilled => "rgw.b killed (SIGKILL), started again 10 s later (systemd's RestartSec=10s of cephadm's units)".into(),
            Self::AllFrozen => format!("all three RGWs frozen; thawed after {} s if nothing restarted them", p.freeze.as_secs()),
            Self::Planned => "planned restart of rgw.b with 2-5 s downloads in flight (`ceph-warden restart` for warden, `ceph orch daemon restart` otherwise)".into(),
            Self::OsdFrozen => "the OSD frozen (SIGSTOP) for 30 s: a cluster stall, no RGW is at fault".into(),
            Self::SlowDown => "rgw.b throttled for the whole run: its request scheduler (dmclock, experimental in Pacific) limits each request class to about 1 request/s, so under load it answers most requests `503 SlowDown` at once. Alive and answering: the seed cron script restarted such an RGW; figures count from the start of the load".into(),
        }
    }
}

struct Params {
    rate: u32,
    /// Load before the fault.
    lead: Duration,
    /// How long a freeze lasts when nothing restarts the daemon.
    freeze: Duration,
    /// Load after the fault ends.
    tail: Duration,
    cron_interval: Duration,
    /// The first cron run, after the start of the load.
    cron_first: Duration,
}

/// One scenario in one setup.
struct Run {
    setup: Setup,
    outcomes: Vec<Outcome>,
    t0: Instant,
    /// Seconds after t0 of the fault and what happened (`freeze`, `thaw`, `restart asked`).
    marks: Vec<(f64, String)>,
    /// Seconds after the fault.
    out_of_rotation: Option<f64>,
    back_in_rotation: Option<f64>,
    first_200: Option<f64>,
    restarts: usize,
    drains: usize,
    /// `outcomes[..load_len]` are the load's, in send order (request `i` is `Kind::of(i)`);
    /// the rest are the planned scenario's downloads.
    load_len: usize,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut params = Params {
        rate: 100,
        lead: Duration::from_secs(5),
        freeze: Duration::from_secs(40),
        tail: Duration::from_secs(15),
        cron_interval: Duration::from_secs(60),
        cron_first: Duration::from_secs(10),
    };
    let mut scenarios: Vec<Scenario> = Scenario::ALL.to_vec();
    let mut setups = Setup::ALL.to_vec();
    let mut out = repo_path("docs/BENCHMARKS.md");
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--cron-interval" => {
                params.cron_interval = Duration::from_secs(value.parse().expect("seconds"))
            }
            "--rate" => params.rate = value.parse().expect("requests per second"),
            "--freeze" => params.freeze = Duration::from_secs(value.parse().expect("seconds")),
            "--scenarios" => {
                scenarios = value
                    .split(',')
                    .map(|n| {
                        *Scenario::ALL
                            .iter()
                            .find(|s| s.name() == n)
                            .unwrap_or_else(|| panic!("unknown scenario {n}"))
                    })
                    .collect()
            }
            "--out" => out = PathBuf::from(value),
            "--setups" => {
                setups = value
                    .split(',')
                    .map(|n| {
                        *Setup::ALL
                            .iter()
                            .find(|s| s.name() == n)
                            .unwrap_or_else(|| panic!("unknown setup {n}"))
                    })
                    .collect()
            }
            "--help" | "-h" => {
                println!("cargo bench --bench freeze -- [--rate 100] [--freeze 40] [--cron-interval 60] [--scenarios one-frozen,...] [--out docs/BENCHMARKS.md]");
                return;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "the report says when the run began, in wall-clock time: the benchmark's own \
                  output, not a time the daemon acts on"
    )]
    let started = std::time::SystemTime::now();
    let begun = now();
    eprintln!("== agent and footprint");
    let agent = agent_section();
    let mut results: Vec<(Scenario, Vec<Run>)> = Vec::new();
    for scenario in &scenarios {
        let mut runs = Vec::new();
        for setup in setups.iter().copied() {
            eprintln!("== {} / {}", scenario.name(), setup.name());
            let run = run(*scenario, setup, &params);
            eprintln!(
                "   {}",
                ingress::summary(&run.outcomes)
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
            runs.push(run);
        }
        results.push((*scenario, runs));
    }
    let plots = out.parent().unwrap_or(Path::new(".")).join("bench");
    std::fs::create_dir_all(&plots).expect("docs/bench");
    for (scenario, runs) in &results {
        let svg = plots.join(format!("{}.svg", scenario.name()));
        plot(&svg, *scenario, runs, &params)
            .unwrap_or_else(|err| panic!("cannot draw {}: {err}", svg.display()));
    }
    let mut report = report(&results, &params, started, begun.elapsed(), &args);
    report.push_str(&agent);
    std::fs::write(&out, report).expect("write the report");
    eprintln!(
        "wrote {} and {}/*.svg in {:?}",
        out.display(),
        plots.display(),
        begun.elapsed()
    );
}

/// utime + stime of `pid`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    fields
        .get(11)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The agent at 1,000 polls/s from 20 connections at a time (each poll its own connection, as
/// HAProxy polls) for 10 s, while the sidecar probes three daemons every 500 ms; its RSS and
/// CPU idle and under that load. The release build, as the package ships it.
fn agent_section() -> String {
    const POLLERS: u32 = 4;
    const SECONDS: u64 = 10;
    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let statics: String = ["a", "b", "c"]
        .iter()
        .map(|id| {
            format!(
                "[[static]]\nname = \"rgw.{id}\"\nurl = \"http://127.0.0.1:{}/\"\n",
                stub_server(ok)
            )
        })
        .collect();
    let release = repo_path("target/release/ceph-warden");
    let sidecar = Sidecar::start_binary(
        "bench-agent",
        release.to_str().unwrap_or(BIN),
        "inventory = \"static\"\nhealth-gate = []",
        &statics,
        &[],
    );
    for id in ["a", "b", "c"] {
        sidecar.wait_word(
            &format!("rgw.{id}"),
            "up ready",
            Duration::from_secs(10),
            |w| w == "up ready",
        );
    }
    let pid = sidecar.pid();
    let (cpu0, idle_start) = (cpu_ticks(pid), now());
    std::thread::sleep(Duration::from_secs(SECONDS));
    let idle_cpu = (cpu_ticks(pid) - cpu0) as f64 / idle_start.elapsed().as_secs_f64();
    let idle_rss = rss_kib(pid);
    let port = sidecar.agent_port;
    let (cpu1, load_start) = (cpu_ticks(pid), now());
    let pollers = poll_at_1000_per_second(port, POLLERS, SECONDS);
    let mut peak_rss = 0;
    while !pollers.iter().all(|p| p.is_finished()) {
        peak_rss = peak_rss.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = load_start.elapsed();
    let load_cpu = (cpu_ticks(pid) - cpu1) as f64 / took.as_secs_f64();
    let mut latencies = Vec::new();
    let mut wrong = 0;
    for p in pollers {
        let (l, w) = p.join().expect("poller");
        latencies.extend(l);
        wrong += w;
    }
    latencies.sort();
    // The floor on this machine: the same polls against a trivial server that answers
    // `up ready` from a plain thread, no runtime, no work.
    let floor = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 64];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"up ready\n");
            }
        });
        let mut all: Vec<Duration> = poll_at_1000_per_second(port, POLLERS, SECONDS)
            .into_iter()
            .flat_map(|p| p.join().expect("poller").0)
            .collect();
        all.sort();
        all
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = String::new();
    let _ = writeln!(out, "## Agent and footprint\n");
    let _ = writeln!(
        out,
        "`ceph-warden run` (release build) watching three daemons, probing each every 500 ms; \
         HAProxy's side played by {POLLERS} threads polling the agent, each poll its own \
         connection, 1,000 polls/s in all for {SECONDS} s.\n"
    );
    let _ = writeln!(out, "| what | figure |\n| --- | ---: |");
    let _ = writeln!(
        out,
        "| polls answered | {} in {:.1} s ({:.0}/s), {wrong} not `up ready` |",
        latencies.len(),
        took.as_secs_f64(),
        latencies.len() as f64 / took.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| agent reply latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0))
    );
    let _ = writeln!(
        out,
        "| RSS idle / peak under the polls | {:.1} / {:.1} MiB |",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    let _ = writeln!(
        out,
        "| CPU idle (probing only) / under the polls | {:.2} % / {:.1} % of a core |",
        idle_cpu, load_cpu
    );
    let _ = writeln!(
        out,
        "| the same polls against a trivial thread answering `up ready` (the floor here) p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |\n",
        ms(percentile(&floor, 0.5)),
        ms(percentile(&floor, 0.99)),
        ms(percentile(&floor, 1.0))
    );
    let _ = writeln!(out, "The latency is measured by the poller: connect, send the tag, read the line. On this 2-core virtual machine the pollers and the sidecar share the cores, and a server that does nothing at all shows the same tail (last row): the p99 above 1 ms is the machine's scheduling, not the agent.\n");
    eprintln!("{out}");
    out
}

/// `pollers` threads polling the agent at `port` (each poll its own connection, tags rgw.a-c),
/// 1,000 polls/s in all for `seconds`; each returns its latencies and the replies that were
/// not `up ready`.
fn poll_at_1000_per_second(
    port: u16,
    pollers: u32,
    seconds: u64,
) -> Vec<std::thread::JoinHandle<(Vec<Duration>, usize)>> {
    (0..pollers)
        .map(|i| {
            std::thread::spawn(move || {
                let gap = Duration::from_secs(1) * pollers / 1000;
                let start = now() + Duration::from_micros(u64::from(i) * 1000);
                let mut latencies = Vec::new();
                let mut wrong = 0;
                for n in 0..(seconds * 1000 / u64::from(pollers)) {
                    let due = start + gap * u32::try_from(n).unwrap_or(0);
                    if let Some(wait) = due.checked_duration_since(now()) {
                        std::thread::sleep(wait);
                    }
                    let tag = ["rgw.a", "rgw.b", "rgw.c"][usize::try_from(n % 3).unwrap_or(0)];
                    let (word, took) = sidecar::agent_poll(port, Some(tag));
                    if word != "up ready" {
                        wrong += 1;
                    }
                    latencies.push(took);
                }
                (latencies, wrong)
            })
        })
        .collect()
}

/// Polls HAProxy's view of `names` every 100 ms: when (after `fault`) none of them is UP any
/// more, and when one is UP again after that.
fn watch_rotation(
    haproxy: Arc<Haproxy>,
    names: Vec<String>,
    fault: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Option<f64>, Option<f64>, usize)> {
    std::thread::spawn(move || {
        let (mut out, mut back, mut drains) = (None, None, 0);
        let mut was_drained = false;
        while !stop.load(Ordering::Relaxed) {
            let states: Vec<String> = names
                .iter()
                .map(|n| haproxy.status(n).unwrap_or_default())
                .collect();
            let any_drain = states
                .iter()
                .any(|s| s.starts_with("DRAIN") || s.starts_with("MAINT"));
            if any_drain && !was_drained {
                drains += 1;
            }
            was_drained = any_drain;
            if let Some(at) = *locked(&fault) {
                let up = states.iter().any(|s| s == "UP" || s.starts_with("UP "));
                let all_up = states.iter().all(|s| s == "UP");
                if out.is_none() && !up {
                    out = Some(at.elapsed().as_secs_f64());
                } else if out.is_some() && back.is_none() && all_up {
                    back = Some(at.elapsed().as_secs_f64());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (out, back, drains)
    })
}

fn run(scenario: Scenario, setup: Setup, p: &Params) -> Run {
    let tag = format!("bench-{}-{}", scenario.name(), setup.name());
    let lab = Lab::up(&tag, 3);
    if setup != Setup::WardenInstant {
        // cephadm as it behaves, with the stand-in's defaults: each restart queued 3 s behind
        // the serve loop, podman's 10 s stop, `orch ps` re-listed 5 s after an action.
        lab.cephadm_model(&[]);
    }
    let lab_dir = lab.dir.display().to_string();
    let dir = TempDir::new(&format!("{tag}-run"));
    lab.bucket("a", "bench", "object", 4096, "public-read-write");
    lab.bucket("a", "bench", "slow", SLOW_OBJECT, "public-read-write");
    if scenario == Scenario::SlowDown {
        throttle(&lab, "b");
    }
    if scenario == Scenario::Planned {
        lab.bucket(
            "a",
            "bench",
            "planned",
            48 * 1024 * 1024,
            "public-read-write",
        );
    }
    let servers: Vec<(String, u16)> = lab
        .ids
        .iter()
        .map(|id| (format!("rgw.{id}"), lab.port(id)))
        .collect();
    let ceph_log = dir.path("ceph-argv.log");
    let mut sidecar = None;
    let haproxy = match setup {
        Setup::Warden | Setup::WardenInstant => {
            // Its defaults, with the admin socket where the lab keeps it (cephadm's place
            // is the default), and against cephadm the hung-RGW kill a host with `[systemd]
            // fsid` has: `rgw-ctl.sh kill` (SIGKILL of the RGW's pid) stands in for
            // `systemctl kill` of cephadm's unit.
            let kill = match setup {
                Setup::Warden => format!(
                    "[command]\nkill = [\"bash\", \"{}\", \"-d\", \"{lab_dir}\", \"kill\", \"{{id}}\"]\n",
                    repo_path("tests/lab/rgw-ctl.sh").display()
                ),
                _ => String::new(),
            };
            let s = Sidecar::start(
                &format!("{tag}-sidecar"),
                if setup == Setup::Warden {
                    "kill-hung = \"command\""
                } else {
                    ""
                },
                &format!(
                    "{kill}[daemon-types.rgw]\nadmin-socket = \"{lab_dir}/run/ceph-client.{{name}}.asok\"\n"
                ),
                &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
            );
            let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
            let h = Haproxy::start(&dir.0, &refs, s.agent_port);
            for (id, _) in lab.ids.iter().zip(&servers) {
                s.wait_word(
                    &format!("rgw.{id}"),
                    "up ready",
                    Duration::from_secs(30),
                    |w| w == "up ready",
                );
            }
            sidecar = Some(s);
            h
        }
        Setup::Cephadm | Setup::Cron => Haproxy::start_cephadm_stock(&dir.0, &servers),
    };
    for (name, _) in &servers {
        // The throttled RGW may fail HAProxy's own check from the start.
        if scenario == Scenario::SlowDown && name == "rgw.b" {
            continue;
        }
        haproxy.wait_status(name, "UP", Duration::from_secs(30), |s| s == "UP");
    }
    let haproxy = Arc::new(haproxy);
    let watched: Vec<String> = match scenario {
        Scenario::AllFrozen | Scenario::OsdFrozen => {
            servers.iter().map(|(n, _)| n.clone()).collect()
        }
        _ => vec!["rgw.b".to_string()],
    };
    let fault_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_rotation(
        Arc::clone(&haproxy),
        watched,
        Arc::clone(&fault_at),
        Arc::clone(&stop),
    );
    let total = p.lead + p.freeze + p.tail;
    let port = haproxy.port;
    let rate = p.rate;
    let t0 = now();
    let load = std::thread::spawn(move || {
        ingress::open_loop_with(
            rate,
            total,
            Arc::new(move |i| mixed_request(port, i)),
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
                    let said = blocking_command(BIN)
                        .args(["check", "--type", "rgw", "--config"])
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
    std::thread::sleep(p.lead);
    // Figures count from the moment the fault is in place (the `rgw-ctl.sh` calls take tens
    // of milliseconds each).
    let fault_now = || *locked(&fault_at) = Some(now());
    let mut slow = Vec::new();
    match scenario {
        Scenario::OneFrozen => {
            lab.try_ctl("freeze", "b");
            fault_now();
            mark(&mut marks, "rgw.b frozen");
            std::thread::sleep(p.freeze);
            lab.try_ctl("thaw", "b");
            mark(&mut marks, "thawed");
        }
        Scenario::OneKilled => {
            lab.try_ctl("kill", "b");
            fault_now();
            mark(&mut marks, "rgw.b killed");
            std::thread::sleep(Duration::from_secs(10));
            if lab.pid("b").is_none() {
                lab.try_ctl("start", "b");
                mark(&mut marks, "started by its unit");
            }
            std::thread::sleep(p.freeze.saturating_sub(Duration::from_secs(10)));
        }
        Scenario::AllFrozen => {
            for id in &lab.ids {
                lab.try_ctl("freeze", id);
            }
            fault_now();
            mark(&mut marks, "all frozen");
            std::thread::sleep(p.freeze);
            for id in &lab.ids {
                lab.try_ctl("thaw", id);
            }
            mark(&mut marks, "thawed");
        }
        Scenario::Planned => {
            slow = (0..6)
                .map(|_| {
                    std::thread::spawn(move || {
                        ingress::request(port, "/bench/planned", Some(16 * 1024 * 1024))
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(500));
            match &sidecar {
                Some(s) => {
                    let _ = blocking_command(BIN)
                        .args([
                            "restart",
                            "rgw.b",
                            "--api",
                            &format!("http://127.0.0.1:{}", s.http_port),
                        ])
                        .output();
                }
                None => {
                    let _ = blocking_command(fake_ceph())
                        .args([
                            "-c",
                            &format!("{lab_dir}/ceph.conf"),
                            "orch",
                            "daemon",
                            "restart",
                            "rgw.b",
                        ])
                        .env("FAKE_CEPH_LAB_DIR", &lab_dir)
                        .env("FAKE_CEPH_LOG", &ceph_log)
                        .output();
                }
            }
            fault_now();
            mark(&mut marks, "restart asked");
            std::thread::sleep(p.freeze);
        }
        Scenario::OsdFrozen => {
            let osd = lab.env("CEPH_LAB_OSD_PID");
            let _ = blocking_command("kill").args(["-STOP", &osd]).status();
            fault_now();
            mark(&mut marks, "OSD frozen");
            std::thread::sleep(Duration::from_secs(30));
            let _ = blocking_command("kill").args(["-CONT", &osd]).status();
            mark(&mut marks, "OSD thawed");
            std::thread::sleep(p.freeze.saturating_sub(Duration::from_secs(30)));
        }
        Scenario::SlowDown => {
            // Throttled since before the load: it sheds load as soon as there is some.
            *locked(&fault_at) = Some(t0);
            marks.push((0.0, "rgw.b throttled".to_string()));
            std::thread::sleep(p.freeze);
        }
    }
    let mut outcomes = load.join().expect("load");
    let load_len = outcomes.len();
    for s in slow {
        outcomes.push(s.join().expect("slow request"));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(cron) = cron {
        let _ = cron.join();
    }
    let (out_of_rotation, back_in_rotation, drains) = watcher.join().expect("watcher");
    marks.extend(locked(&cron_marks).drain(..));
    let fault = locked(&fault_at).expect("fault");
    // Only meaningful when no RGW could answer.
    let first_200 = outcomes
        .iter()
        .filter(|o| scenario == Scenario::AllFrozen && o.sent >= fault && o.result == Ok(200))
        .map(|o| (o.sent + o.latency).duration_since(fault).as_secs_f64())
        .reduce(f64::min);
    let log_of = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let calls = match &sidecar {
        Some(s) => log_of(&s.dir.path("ceph-argv.log")),
        None => log_of(&ceph_log),
    };
    let restarts = calls.matches("orch daemon restart").count();
    if let Some(s) = &sidecar {
        // What the sidecar saw and did, for the log.
        for what in s.event_lines() {
            eprintln!("   sidecar: {what}");
        }
    }
    Run {
        setup,
        outcomes,
        t0,
        marks,
        out_of_rotation,
        back_in_rotation,
        first_200,
        restarts,
        drains,
        load_len,
    }
}

fn errors_by_kind(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for o in outcomes {
        let kind = match &o.result {
            Ok(200) => continue,
            Ok(code) => format!("{code}"),
            Err(kind) => kind.clone(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "never".to_string(), |v| format!("{v:.1} s"))
}

fn report(
    results: &[(Scenario, Vec<Run>)],
    p: &Params,
    started: std::time::SystemTime,
    took: Duration,
    args: &[String],
) -> String {
    let mut out = String::new();
    let version = |cmd: &str, arg: &str| {
        blocking_command(cmd)
            .arg(arg)
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Benchmarks: a frozen RGW, side by side\n");
    let _ = writeln!(
        out,
        "Written by `bash scripts/bench.sh{}` on {} (took {:.0} min). Do not edit: rerun it.\n",
        if args.is_empty() {
            String::new()
        } else {
            format!(" {}", args.join(" "))
        },
        humantime::format_rfc3339_seconds(started),
        took.as_secs_f64() / 60.0
    );
    let _ = writeln!(
        out,
        "Machine: {cpu}, {cores} cores. {}; {}; ceph-warden {}.\n",
        version("haproxy", "-v"),
        version("ceph", "--version"),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "Each scenario runs once per setup in this one run, on a fresh lab each time (three real \
         radosgw, one OSD, real HAProxy), under open-loop load: {} requests per second \
         through HAProxy, each on its own connection, sent on schedule whatever earlier ones do \
         (3 in 4 a GET of a 4 KiB object, 1 in 4 an anonymous 4 KiB PUT, and 1 in 20 instead \
         a slow GET: {} MiB read at {} MiB/s, a 4 s request); the fault {} s after the load \
         starts; {} s of load after the fault ends.\n",
        p.rate,
        SLOW_OBJECT >> 20,
        SLOW_READ_RATE >> 20,
        p.lead.as_secs(),
        p.tail.as_secs()
    );
    let _ = writeln!(out, "- `cephadm`: cephadm's stock ingress HAProxy config ([tests/harness/haproxy-cephadm.cfg](../tests/harness/haproxy-cephadm.cfg): `balance static-rr`, `option httpchk HEAD /`, `check inter 2s`, `timeout check 5s`), nothing else.");
    let _ = writeln!(
        out,
        "- `cron`: the same, plus `ceph-warden check --type rgw` (the seed cron script's job) every {} s, first {} s after the load starts. The seed ran every 300 s: its detection delay is up to the interval, so its figures scale with it.",
        p.cron_interval.as_secs(),
        p.cron_first.as_secs()
    );
    let _ = writeln!(out, "- `warden`: the shipped [haproxy/haproxy.cfg](../haproxy/haproxy.cfg) plus `ceph-warden run` with its defaults (the admin socket path set to the lab's: the default is cephadm's place), and the hung-RGW kill a host with `[systemd] fsid` has (`run.kill-hung`; here `rgw-ctl.sh kill`, SIGKILL of the RGW's pid, stands in for `systemctl kill` of cephadm's unit).");
    let _ = writeln!(out, "- `warden-instant`: `warden` without the kill, against the instant orchestrator of the earlier runs (a restart 0.3 s after the ask, a live `orch ps`): what every figure before issue 12 was measured against, beside the rest.\n");
    let _ = writeln!(out, "The orchestrator is the project's stand-in (cephadm cannot run here): for `cephadm`, `cron` and `warden` it is [tests/lab/fake-cephadm](../tests/lab/fake-cephadm), cephadm as it behaves (read from its code: issue 12, docs/design.md §7), with its defaults: `orch daemon restart` only queues the restart and the serve loop runs it 3 s later, stopping the RGW as `podman stop` does (SIGTERM, SIGKILL after 10 s, never SIGCONT); `orch ps` answers from a cache re-listed 5 s after an action. For `warden-instant` it is `tests/lab/fake-ceph`'s instant model.\n");
    let _ = writeln!(out, "Columns: requests sent; client errors (by HTTP status or error kind); GET and PUT requests (not the slow GETs, 4 s by design) that did get a 200 but only after more than 5 s (stalled on a frozen server: most clients would have given up), and their latency percentiles; freeze → out of rotation and → back in rotation, as HAProxy's `show stat` says (polled every 100 ms; for all-frozen: no server UP, then every server UP); first 200 answered after the fault; restarts asked of the orchestrator; drains HAProxy applied.\n");
    for (scenario, runs) in results {
        let _ = writeln!(out, "## {}\n\n{}.\n", scenario.name(), scenario.title(p));
        let _ = writeln!(out, "| setup | requests | errors | errors GET / PUT / slow GET | GET/PUT 200 after > 5 s | GET/PUT p50 | p99 | max | out of rotation | back in rotation | first 200 | restarts | drains |");
        let _ = writeln!(
            out,
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for run in runs {
            // The slow GETs take 4 s by design: stalls show in the short requests.
            let short: Vec<&Outcome> = run.outcomes[..run.load_len]
                .iter()
                .enumerate()
                .filter(|(i, _)| Kind::of(*i as u64) != Kind::Slow)
                .map(|(_, o)| o)
                .collect();
            let mut latencies: Vec<Duration> = short.iter().map(|o| o.latency).collect();
            latencies.sort();
            let kinds = errors_by_kind(&run.outcomes);
            let errors: usize = kinds.values().sum();
            let by_kind = if kinds.is_empty() {
                "**0**".to_string()
            } else {
                format!(
                    "{errors} ({})",
                    kinds
                        .iter()
                        .map(|(k, n)| format!("{n}× {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let by_request = Kind::ALL
                .iter()
                .map(|kind| {
                    run.outcomes[..run.load_len]
                        .iter()
                        .enumerate()
                        .filter(|(i, o)| Kind::of(*i as u64) == *kind && o.result != Ok(200))
                        .count()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" / ");
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {:.0} ms | {:.0} ms | {:.1} s | {} | {} | {} | {} | {} |",
                run.setup.name(),
                run.outcomes.len(),
                by_kind,
                by_request,
                short
                    .iter()
                    .filter(|o| o.result == Ok(200) && o.latency > Duration::from_secs(5))
                    .count(),
                percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
                percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
                percentile(&latencies, 1.0).as_secs_f64(),
                secs(run.out_of_rotation),
                secs(run.back_in_rotation),
                if *scenario == Scenario::AllFrozen {
                    secs(run.first_200)
                } else {
                    "—".to_string()
                },
                run.restarts,
                run.drains
            );
        }
        let _ = writeln!(
            out,
            "\n![{} timeline](bench/{}.svg)\n",
            scenario.name(),
            scenario.name()
        );
    }
    out
}

/// One SVG per scenario: a row per setup; for every 250 ms of send time, the slowest request
/// of each outcome: green 200, orange an HTTP error, red a connection error or timeout; the
/// fault's marks (and cron runs) as vertical lines.
fn plot(
    path: &Path,
    scenario: Scenario,
    runs: &[Run],
    p: &Params,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let width = 900u32;
    let row = 220u32;
    let root = SVGBackend::new(path, (width, row * runs.len() as u32 + 30)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(30);
    title.draw(&Text::new(
        format!(
            "{}: {} (x: seconds, y: latency in seconds)",
            scenario.name(),
            scenario.title(p)
        ),
        (10, 8),
        ("sans-serif", 14),
    ))?;
    let span = (p.lead + p.freeze + p.tail).as_secs_f64() + 5.0;
    for (area, run) in body.split_evenly((runs.len(), 1)).iter().zip(runs) {
        let top = run
            .outcomes
            .iter()
            .map(|o| o.latency.as_secs_f64())
            .fold(0.5f64, f64::max)
            .min(35.0);
        let mut chart = ChartBuilder::on(area)
            .caption(run.setup.name(), ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..span, 0f64..top * 1.05)?;
        chart.configure_mesh().disable_mesh().draw()?;
        // Per 250 ms of send time and per outcome, the slowest request: the shape of every
        // stall, in a file small enough to commit.
        let mut buckets: BTreeMap<(u64, u8), f64> = BTreeMap::new();
        for o in &run.outcomes {
            let slot = (o.sent.duration_since(run.t0).as_secs_f64() * 4.0) as u64;
            let class = match o.result {
                Ok(200) => 0,
                Ok(_) => 1,
                Err(_) => 2,
            };
            let worst = buckets.entry((slot, class)).or_insert(0.0);
            *worst = worst.max(o.latency.as_secs_f64().min(top));
        }
        for (class, colour) in [
            (0u8, RGBColor(46, 160, 67)),
            (1, RGBColor(230, 140, 0)),
            (2, RGBColor(210, 30, 30)),
        ] {
            chart.draw_series(buckets.iter().filter(|((_, c), _)| *c == class).map(
                |((slot, _), latency)| {
                    Circle::new((*slot as f64 / 4.0 + 0.125, *latency), 2, colour.filled())
                },
            ))?;
        }
        for (at, what) in &run.marks {
            chart.draw_series(LineSeries::new(
                vec![(*at, 0.0), (*at, top)],
                BLUE.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                what.clone(),
                (*at + 0.3, top * 0.95),
                ("sans-serif", 11),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}
