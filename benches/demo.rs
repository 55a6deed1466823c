//! The demo (README's first command, `bash scripts/demo.sh`): the incident, replayed on a real
//! lab, twice. Three real radosgw behind a real HAProxy under client load; first with
//! cephadm's stock ingress config alone, then with the shipped haproxy/haproxy.cfg and
//! `ceph-warden run`. Each time rgw.b freezes (SIGSTOP: process alive, port open, no answers),
//! then all three do. A live timeline shows what clients got, what HAProxy did and what the
//! sidecar saw and did; a side-by-side summary ends it. Everything is torn down at the end and
//! on Ctrl-C; `--keep` leaves the warden setup running for `curl`. `--short` halves the waits
//! (CI runs it). The only stand-in is cephadm's orchestrator: tests/lab/fake-cephadm, cephadm as
//! it behaves (each restart queued 3 s behind its serve loop, podman's 10 s stop, a cached
//! `orch ps`); and, for the hung-RGW kill a host with `[systemd] fsid` has, the lab's
//! `rgw-ctl.sh kill` (SIGKILL of the RGW's pid) where a host runs `systemctl kill`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use harness::ingress::{self, Haproxy, Outcome};
use harness::lab::Lab;
use harness::sidecar::Sidecar;
use harness::{now, repo_path, TempDir};

/// The ceph-warden that cargo built for this bench: the release build (`bench` inherits it).
const BIN: &str = env!("CARGO_BIN_EXE_ceph-warden");

const RATE: u32 = 50;

struct Phase {
    name: &'static str,
    outcomes: Vec<Outcome>,
    one_out: Option<f64>,
    one_back: Option<f64>,
    all_first_200: Option<f64>,
    restarts: usize,
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let keep = args.iter().any(|a| a == "--keep");
    let short = args.iter().any(|a| a == "--short");
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            eprintln!("\n^C: stopping the load and tearing everything down");
            flag.store(true, Ordering::Relaxed);
        });
    }
    let waits = if short { 0.5 } else { 1.0 };
    let started = now();
    say("bringing up the lab: mon, mgr, osd and three real radosgw on 127.0.0.1");
    let lab = Lab::up("demo", 3);
    lab.cephadm_model(&[]);
    let mut phases = Vec::new();
    for setup in ["cephadm", "warden"] {
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        let (phase, kept) = phase(&lab, setup, waits, &interrupted, keep && setup == "warden");
        phases.push(phase);
        if let Some((sidecar, haproxy)) = kept {
            summary(&phases);
            print_keep(&lab, &sidecar, &haproxy);
            // Leave every process running: their Drop would stop them.
            std::mem::forget(sidecar);
            std::mem::forget(haproxy);
            std::mem::forget(lab);
            return;
        }
    }
    if !interrupted.load(Ordering::Relaxed) {
        summary(&phases);
        say(&format!(
            "done in {:.0} s; tearing down",
            started.elapsed().as_secs_f64()
        ));
    }
    drop(lab);
    // Requests still hanging on a frozen server would hold their threads: do not wait for them.
    std::process::exit(if interrupted.load(Ordering::Relaxed) {
        130
    } else {
        0
    });
}

fn say(what: &str) {
    println!("\n\x1b[1m== {what}\x1b[0m");
}

/// One setup: HAProxy (and the sidecar for `warden`) on the lab, load, rgw.b frozen, then all
/// three; the live timeline. Returns the figures, and with `keep` the running pieces.
fn phase(
    lab: &Lab,
    setup: &'static str,
    waits: f64,
    interrupted: &Arc<AtomicBool>,
    keep: bool,
) -> (Phase, Option<(Sidecar, Haproxy)>) {
    let dir = TempDir::new(&format!("demo-{setup}"));
    let servers = lab.servers();
    let lab_dir = lab.dir.display().to_string();
    let mut sidecar = None;
    let haproxy = if setup == "warden" {
        say("warden: the shipped haproxy/haproxy.cfg and `ceph-warden run` (agent-check)");
        let release = repo_path("target/release/ceph-warden");
        // Its defaults, with the lab's admin sockets (the default path is cephadm's) and the
        // hung-RGW kill.
        let s = Sidecar::start_binary(
            "demo-sidecar",
            release.to_str().unwrap_or(BIN),
            "kill-hung = \"command\"",
            &format!(
                "[command]\nkill = [\"bash\", \"{}\", \"-d\", \"{lab_dir}\", \"kill\", \"{{id}}\"]\n\
                 [daemon-types.rgw]\nadmin-socket = \"{lab_dir}/run/ceph-client.{{name}}.asok\"\n",
                repo_path("tests/lab/rgw-ctl.sh").display()
            ),
            &[("FAKE_CEPH_LAB_DIR", lab_dir.as_str())],
        );
        let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
        let h = Haproxy::start(&dir.0, &refs, s.agent_port);
        for (name, _) in &servers {
            s.wait_word(name, "up ready", Duration::from_secs(30), |w| {
                w == "up ready"
            });
        }
        sidecar = Some(s);
        h
    } else {
        say("cephadm: cephadm's stock ingress HAProxy config, nothing else (what users run today)");
        Haproxy::start_cephadm_stock(&dir.0, &servers)
    };
    for (name, _) in &servers {
        haproxy.wait_status(name, "UP", Duration::from_secs(30), |s| s == "UP");
    }
    let haproxy = Arc::new(haproxy);
    println!(
        "   clients: {RATE} GET/s through HAProxy on 127.0.0.1:{}, each on its own connection",
        haproxy.port
    );
    println!("   {:>6}  {:<8} what", "time", "who");

    // Load, with every outcome tapped for the live per-second line.
    let (tap, outcomes_rx) = mpsc::channel::<Outcome>();
    let stop = Arc::new(AtomicBool::new(false));
    let port = haproxy.port;
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            ingress::open_loop_with(
                RATE,
                Duration::from_secs(600),
                Arc::new(move |_| ingress::request(port, "/", None)),
                Some(tap),
                Some(stop),
            )
        })
    };
    let t0 = now();
    let timeline = Timeline::new(t0);
    let mut reporter = Reporter::new(
        outcomes_rx,
        Arc::clone(&haproxy),
        servers.iter().map(|(n, _)| n.clone()).collect(),
    );
    let seconds = |s: f64| Duration::from_secs_f64(s * waits);
    let pump = |reporter: &mut Reporter,
                timeline: &Timeline,
                sidecar: &Option<Sidecar>,
                until: &dyn Fn(&Reporter) -> bool,
                max: Duration| {
        let begin = now();
        while begin.elapsed() < max && !interrupted.load(Ordering::Relaxed) {
            reporter.poll(timeline, sidecar.as_ref());
            if until(reporter) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    pump(&mut reporter, &timeline, &sidecar, &|_| false, seconds(5.0));
    let before = lab.pid("b");
    lab.try_ctl("freeze", "b");
    let frozen = now();
    timeline.line(
        "fault",
        "rgw.b frozen (SIGSTOP): alive, port open, no answers",
    );
    // Until rgw.b is back in rotation after a restart; cephadm has no one to restart it, so
    // the operator thaws it after 30 s.
    let thaw_after = seconds(30.0);
    pump(
        &mut reporter,
        &timeline,
        &sidecar,
        &|r| r.back_of("rgw.b").is_some(),
        thaw_after,
    );
    if lab.pid("b") == before {
        lab.try_ctl("thaw", "b");
        timeline.line("fault", "rgw.b thawed by hand (nothing restarted it)");
        pump(
            &mut reporter,
            &timeline,
            &sidecar,
            &|r| r.back_of("rgw.b").is_some(),
            seconds(10.0),
        );
    }
    let one_out = reporter
        .out_of("rgw.b")
        .map(|t| t.duration_since(frozen).as_secs_f64());
    let one_back = reporter
        .back_of("rgw.b")
        .map(|t| t.duration_since(frozen).as_secs_f64());
    pump(&mut reporter, &timeline, &sidecar, &|_| false, seconds(5.0));
    reporter.reset_rotation();
    let before_all: Vec<Option<u32>> = lab.ids.iter().map(|id| lab.pid(id)).collect();
    for id in &lab.ids {
        lab.try_ctl("freeze", id);
    }
    let all_frozen = now();
    timeline.line("fault", "all three RGWs frozen: the original incident");
    pump(
        &mut reporter,
        &timeline,
        &sidecar,
        &|r| {
            r.first_200_after(all_frozen).is_some()
                && lab
                    .ids
                    .iter()
                    .all(|id| r.back_of(&format!("rgw.{id}")).is_some())
        },
        seconds(30.0),
    );
    let all_first_200 = reporter
        .first_200_after(all_frozen)
        .map(|t| t.duration_since(all_frozen).as_secs_f64());
    for (i, id) in lab.ids.iter().enumerate() {
        if lab.pid(id) == before_all[i] {
            lab.try_ctl("thaw", id);
        }
    }
    if lab
        .ids
        .iter()
        .enumerate()
        .any(|(i, id)| lab.pid(id) == before_all[i])
    {
        timeline.line("fault", "thawed by hand what nothing restarted");
    }
    pump(
        &mut reporter,
        &timeline,
        &sidecar,
        &|r| lab.ids.iter().all(|id| r.is_up(&format!("rgw.{id}"))),
        seconds(15.0),
    );
    stop.store(true, Ordering::Relaxed);
    // Wait for the last requests (bounded: at most HAProxy's 30 s server timeout).
    let outcomes = load.join().unwrap_or_default();
    let restarts = std::fs::read_to_string(
        sidecar
            .as_ref()
            .map_or_else(|| dir.path("none"), |s| s.dir.path("ceph-argv.log")),
    )
    .unwrap_or_default()
    .matches("orch daemon restart")
    .count();
    let phase = Phase {
        name: setup,
        outcomes,
        one_out,
        one_back,
        all_first_200,
        restarts,
    };
    drop(reporter);
    let haproxy = Arc::try_unwrap(haproxy).ok();
    match (keep, sidecar, haproxy) {
        (true, Some(s), Some(h)) => (phase, Some((s, h))),
        _ => (phase, None),
    }
}

struct Timeline {
    t0: Instant,
}

impl Timeline {
    fn new(t0: Instant) -> Self {
        Self { t0 }
    }

    fn line(&self, who: &str, what: &str) {
        println!(
            "   {:>5.1}s  {who:<8} {what}",
            self.t0.elapsed().as_secs_f64()
        );
    }
}

/// Prints, as they happen: per second what clients got, every HAProxy state change and every
/// sidecar event.
struct Reporter {
    outcomes: mpsc::Receiver<Outcome>,
    haproxy: Arc<Haproxy>,
    servers: Vec<String>,
    states: BTreeMap<String, String>,
    out: BTreeMap<String, Instant>,
    back: BTreeMap<String, Instant>,
    second: (u64, usize, BTreeMap<String, usize>),
    last_tick: Instant,
    oks: Vec<Instant>,
    events_seen: usize,
}

impl Reporter {
    fn new(outcomes: mpsc::Receiver<Outcome>, haproxy: Arc<Haproxy>, servers: Vec<String>) -> Self {
        Self {
            outcomes,
            haproxy,
            servers,
            states: BTreeMap::new(),
            out: BTreeMap::new(),
            back: BTreeMap::new(),
            second: (0, 0, BTreeMap::new()),
            last_tick: now(),
            oks: Vec::new(),
            events_seen: 0,
        }
    }

    fn poll(&mut self, timeline: &Timeline, sidecar: Option<&Sidecar>) {
        while let Ok(o) = self.outcomes.try_recv() {
            match &o.result {
                Ok(200) => {
                    self.second.1 += 1;
                    self.oks.push(o.sent + o.latency);
                }
                Ok(code) => *self.second.2.entry(format!("{code}")).or_insert(0) += 1,
                Err(kind) => *self.second.2.entry(kind.clone()).or_insert(0) += 1,
            }
        }
        if self.last_tick.elapsed() >= Duration::from_secs(1) {
            self.last_tick = now();
            let errors: usize = self.second.2.values().sum();
            let kinds: Vec<String> = self
                .second
                .2
                .iter()
                .map(|(k, n)| format!("{n}x {k}"))
                .collect();
            timeline.line(
                "clients",
                &format!(
                    "{:>3} answered 200, {errors} failed{}",
                    self.second.1,
                    if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", kinds.join(", "))
                    }
                ),
            );
            self.second = (0, 0, BTreeMap::new());
        }
        for name in &self.servers {
            let state = self.haproxy.status(name).unwrap_or_default();
            let old = self.states.insert(name.clone(), state.clone());
            if old.as_deref() != Some(state.as_str()) && old.is_some() {
                timeline.line("haproxy", &format!("{name} {state}"));
                let up = state == "UP";
                if !up && !self.out.contains_key(name) {
                    self.out.insert(name.clone(), now());
                } else if up && self.out.contains_key(name) && !self.back.contains_key(name) {
                    self.back.insert(name.clone(), now());
                }
            }
        }
        if let Some(sidecar) = sidecar {
            for what in sidecar.event_lines().into_iter().skip(self.events_seen) {
                self.events_seen += 1;
                if !what.contains("discovered") {
                    timeline.line("sidecar", &what);
                }
            }
        }
    }

    fn out_of(&self, name: &str) -> Option<Instant> {
        self.out.get(name).copied()
    }

    fn back_of(&self, name: &str) -> Option<Instant> {
        self.back.get(name).copied()
    }

    fn is_up(&self, name: &str) -> bool {
        self.states.get(name).is_some_and(|s| s == "UP")
    }

    fn reset_rotation(&mut self) {
        self.out.clear();
        self.back.clear();
    }

    fn first_200_after(&self, at: Instant) -> Option<Instant> {
        self.oks.iter().filter(|t| **t > at).min().copied()
    }
}

fn summary(phases: &[Phase]) {
    say("side by side");
    let secs = |v: Option<f64>| v.map_or_else(|| "never".to_string(), |v| format!("{v:.1} s"));
    println!(
        "   {:<8} {:>8} {:>8} {:>9} {:>9} {:>22} {:>22} {:>20} {:>9}",
        "setup",
        "requests",
        "failed",
        "200 > 5 s",
        "p99",
        "rgw.b frozen -> out",
        "rgw.b frozen -> back",
        "all frozen -> 200",
        "restarts"
    );
    for p in phases {
        let mut latencies: Vec<Duration> = p.outcomes.iter().map(|o| o.latency).collect();
        latencies.sort();
        let p99 = ingress::percentile(&latencies, 0.99);
        let failed = p.outcomes.iter().filter(|o| o.result != Ok(200)).count();
        let stalled = p
            .outcomes
            .iter()
            .filter(|o| o.result == Ok(200) && o.latency > Duration::from_secs(5))
            .count();
        println!(
            "   {:<8} {:>8} {:>8} {:>9} {:>7.0}ms {:>22} {:>22} {:>20} {:>9}",
            p.name,
            p.outcomes.len(),
            failed,
            stalled,
            p99.as_secs_f64() * 1000.0,
            secs(p.one_out),
            secs(p.one_back),
            secs(p.all_first_200),
            p.restarts
        );
    }
    println!("   (cephadm: nothing restarts a frozen RGW; the demo thaws it by hand after 30 s)");
}

fn print_keep(lab: &Lab, sidecar: &Sidecar, haproxy: &Haproxy) {
    say("--keep: the warden setup is still running. Try:");
    let dir = lab.dir.display();
    println!(
        "   curl -s 127.0.0.1:{}/                      # the sidecar: every RGW, its state and why",
        sidecar.http_port
    );
    println!(
        "   curl -s 127.0.0.1:{}/events                # what it saw and did",
        sidecar.http_port
    );
    println!(
        "   echo rgw.b | nc -q1 127.0.0.1 {}           # what HAProxy's agent-check hears",
        sidecar.agent_port
    );
    println!("   curl -s -o /dev/null -w '%{{http_code}}\\n' 127.0.0.1:{}/   # a client, through HAProxy", haproxy.port);
    println!("   bash tests/lab/rgw-ctl.sh -d {dir} freeze b   # and watch the first three again");
    println!("Tear it down:");
    println!(
        "   kill {} {}   # the sidecar and HAProxy",
        sidecar.pid(),
        haproxy.pid()
    );
    println!("   bash tests/lab/down.sh {dir}");
}
