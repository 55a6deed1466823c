//! The shell with a recording fake [`World`] under tokio's paused clock: no sockets, no
//! signal handlers, no `ceph`. The fake answers from a script the test changes as it goes and
//! logs every call with its virtual time; HAProxy's polls are observations the test injects
//! through the shell's observation channel. Readers are the published view and the events.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::inventory_refresh::{InventoryUpdate, Listing};
use super::leases::LeaseRequest;
use super::probing::{ChainContext, Target};
use super::world::World;
use super::{wall_now, Shell};
use crate::ceph::CephError;
use crate::config::Config;
use crate::http::Api;
use crate::inventory::{Daemon, OrchStatus};
use crate::lease::{Held, LeaseError, LeaseSettings, RadosError};
use crate::machine::verdict::{Outcome, ProbeError, Step, Verdict};
use crate::machine::{Observation, Word};
use crate::orchestrate::kill::Killer;
use crate::orchestrate::{Chain, OrchestrateError};
use crate::probe::http::HttpProbe;
use crate::probe::s3::S3Canary;
use crate::status::View;

/// Long enough for any step of these scenarios in virtual time; a test that waits this long
/// is stuck.
const STUCK: Duration = Duration::from_secs(120);

/// What the fake answers, changed by the test as the scenario goes.
#[derive(Debug, Default)]
struct Script {
    /// Probes of rgw.a time out (until a restart brings it back).
    failing: bool,
    /// The orchestrator was asked for a restart: probes pass and the inventory shows a start
    /// after it.
    restarted: bool,
    /// A restart request never returns.
    restart_hangs: bool,
    /// The next this many inventories fail (`orch ps` printed nothing).
    inventory_fails: u32,
}

/// A recording [`World`]: one daemon, `rgw.a` of service `rgw.s` on `host1`.
#[derive(Clone)]
struct Fake {
    start: tokio::time::Instant,
    /// `<seconds since start>s <call>`, in call order.
    log: Arc<watch::Sender<Vec<String>>>,
    script: Arc<Mutex<Script>>,
}

impl Fake {
    fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            log: Arc::new(watch::channel(Vec::new()).0),
            script: Arc::default(),
        }
    }

    fn record(&self, call: impl Into<String>) {
        let line = format!("{:.3}s {}", self.start.elapsed().as_secs_f64(), call.into());
        self.log.send_modify(|log| log.push(line));
    }

    fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().expect("no test thread panicked"));
    }

    fn restarted(&self) -> bool {
        self.script
            .lock()
            .expect("no test thread panicked")
            .restarted
    }

    /// The log as `(seconds, call)`.
    fn calls(&self) -> Vec<(f64, String)> {
        self.log
            .borrow()
            .iter()
            .map(|line| {
                let (at, call) = line.split_once("s ").expect("every line has a time");
                (at.parse().expect("the time is a number"), call.to_string())
            })
            .collect()
    }

    /// Waits (in virtual time) until a call starting with `prefix` is logged.
    async fn wait_for_call(&self, prefix: &str) {
        self.wait_for_call_after(0, prefix).await;
    }

    /// Waits (in virtual time) until a call starting with `prefix` is logged after the first
    /// `skip` calls.
    async fn wait_for_call_after(&self, skip: usize, prefix: &str) {
        let mut log = self.log.subscribe();
        let found = log.wait_for(|log| {
            log.iter().skip(skip).any(|line| {
                line.split_once("s ")
                    .is_some_and(|(_, c)| c.starts_with(prefix))
            })
        });
        tokio::time::timeout(STUCK, found)
            .await
            .unwrap_or_else(|_| panic!("no `{prefix}` call; log: {:#?}", self.log.borrow()))
            .expect("the log's sender lives in the test");
    }
}

impl World for Fake {
    async fn inventory(&self, _cfg: &Config, host: &str, refresh: bool) -> InventoryUpdate {
        self.record(format!(
            "inventory {host}{}",
            if refresh { " --refresh" } else { "" }
        ));
        let failing = {
            let mut script = self.script.lock().expect("no test thread panicked");
            let failing = script.inventory_fails > 0;
            script.inventory_fails = script.inventory_fails.saturating_sub(1);
            failing
        };
        if failing {
            return InventoryUpdate {
                result: Err(crate::inventory::InventoryError::Empty),
                peers: None,
            };
        }
        // A day-old process, until the restart: then one that started just now (the proof).
        let started = if self.restarted() {
            wall_now()
        } else {
            wall_now() - Duration::from_secs(86_400)
        };
        let rgw_a = Daemon {
            name: "rgw.a".into(),
            daemon_type: "rgw".into(),
            hostname: Some(host.to_string()),
            ip: Some("192.0.2.1".into()),
            ports: vec![8080],
            status: OrchStatus::Running,
            status_desc: None,
            service_name: Some("rgw.s".into()),
            started: Some(started),
        };
        InventoryUpdate {
            result: Ok(Listing {
                daemons: vec![rgw_a],
                json: None,
            }),
            peers: Some(Vec::new()),
        }
    }

    async fn probe(
        &self,
        target: &Target,
        _http: &HttpProbe,
        _s3: Option<&S3Canary>,
        _context: &ChainContext<'_>,
    ) -> Outcome {
        let pass = {
            let script = self.script.lock().expect("no test thread panicked");
            !script.failing || script.restarted
        };
        let mut outcome = Outcome::default();
        if pass {
            outcome.step(Step::Http, Ok(Verdict::Ok));
            self.record(format!("probe {}: ok", target.name));
        } else {
            outcome.step(Step::Http, Err(ProbeError::Timeout));
            self.record(format!("probe {}: timeout", target.name));
        }
        outcome
    }

    async fn health_detail(&self, _cfg: &Config) -> Result<String, CephError> {
        self.record("health detail");
        Ok(r#"{"status": "HEALTH_OK", "checks": {}}"#.into())
    }

    fn in_flight(&self, port: u16) -> Option<usize> {
        self.record(format!("in-flight {port}"));
        Some(0)
    }

    fn process_started_ago(&self, _target: &Target) -> Option<Duration> {
        None
    }

    async fn held_because(
        &self,
        _lease: &LeaseSettings,
        service: &str,
    ) -> Result<Option<String>, RadosError> {
        self.record(format!("lease held-because {service}"));
        Ok(None)
    }

    async fn acquire(&self, request: &LeaseRequest) -> Result<Held, LeaseError> {
        self.record(format!("lease acquire {}", request.service));
        Ok(Held {
            object: format!("restart-lease.{}", request.service),
            slot: "slot-0".into(),
            cookie: request.cookie.clone(),
        })
    }

    async fn release(&self, _lease: &LeaseSettings, held: &Held) -> Result<(), RadosError> {
        self.record(format!("lease release {}/{}", held.object, held.slot));
        Ok(())
    }

    async fn hold(&self, request: &LeaseRequest) -> Result<(), RadosError> {
        self.record(format!("lease hold {}", request.service));
        Ok(())
    }

    async fn lift_hold(&self, _lease: &LeaseSettings, service: &str) -> Result<(), RadosError> {
        self.record(format!("lease lift-hold {service}"));
        Ok(())
    }

    async fn restart(
        &self,
        _orchestrator: &Chain,
        daemon: &Daemon,
        _first: usize,
    ) -> Result<(usize, String), OrchestrateError> {
        self.record(format!("restart {}", daemon.name));
        let hangs = {
            let mut script = self.script.lock().expect("no test thread panicked");
            script.restarted = !script.restart_hangs;
            script.restart_hangs
        };
        if hangs {
            std::future::pending::<()>().await;
        }
        Ok((
            0,
            format!("Scheduled to restart {} on host 'host1'", daemon.name),
        ))
    }

    async fn kill(&self, _killer: &Killer, daemon: &Daemon) -> Result<String, OrchestrateError> {
        self.record(format!("kill {}", daemon.name));
        Ok(format!("killed {}", daemon.name))
    }
}

/// A directory of its own for one test's state file and config.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceph-warden-shell-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}

/// The config of these tests: `run` on `host1`, the orchestrator's inventory, `extra` added
/// under `[run]`. The listen addresses are never bound here.
fn config_text(dir: &Path, extra_run: &str) -> String {
    format!(
        "state-directory = {:?}\n[run]\nhost = \"host1\"\n{extra_run}\n",
        dir.display().to_string()
    )
}

/// The shell serving with `fake`, as `run` serves, without listeners or signal handlers.
struct Running {
    observations: mpsc::Sender<Observation>,
    view: watch::Receiver<Arc<View>>,
    api: Api,
    token: CancellationToken,
    serving: JoinHandle<u8>,
}

fn serve(fake: &Fake, cfg: Config) -> Running {
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (shell, wiring, api, _) = Shell::start(cfg, None, fake.clone(), &token, &tracker);
    let observations = shell.loops.observations.clone();
    let serving = tokio::spawn({
        let token = token.clone();
        async move { shell.serve(wiring, None, &token, &tracker).await }
    });
    Running {
        observations,
        view: api.view.clone(),
        api,
        token,
        serving,
    }
}

impl Running {
    /// Waits (in virtual time) until rgw.a's word satisfies `wanted`; returns it.
    async fn word(&mut self, what: &str, wanted: impl Fn(&Word) -> bool) -> Word {
        let found = self.view.wait_for(|view| {
            view.snapshot
                .daemon("rgw.a")
                .is_some_and(|daemon| wanted(&daemon.word))
        });
        let view = tokio::time::timeout(STUCK, found)
            .await
            .unwrap_or_else(|_| panic!("rgw.a never got {what}"))
            .expect("the shell publishes until it stops");
        view.snapshot
            .daemon("rgw.a")
            .map(|daemon| daemon.word.clone())
            .expect("checked above")
    }

    /// HAProxy at 192.0.2.10 polled the agent for rgw.a and was told `word`.
    async fn poll(&self, fake: &Fake, word: Word) {
        fake.record(format!("poll 192.0.2.10: {word}"));
        self.observations
            .send(Observation::Polled {
                daemon: "rgw.a".into(),
                haproxy: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                word,
            })
            .await
            .expect("the shell receives until it stops");
    }
}

/// rgw.a's states and words, `state: word`, in order (the lease's events say no word).
fn words(api: &Api) -> Vec<String> {
    api.events
        .json_lines(0)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("events are JSON"))
        .filter(|event| event["daemon"] == "rgw.a" && event["word"] != "")
        .map(|event| {
            format!(
                "{}: {}",
                event["to"].as_str().unwrap_or_default(),
                event["word"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The position of the first call starting with `prefix` at or after `from`.
fn position(calls: &[(f64, String)], from: usize, prefix: &str) -> usize {
    calls[from..]
        .iter()
        .position(|(_, call)| call.starts_with(prefix))
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no `{prefix}` after call {from}; calls: {calls:#?}"))
}

/// The calls of a failed daemon's way back: the poll that confirmed the drain word let the
/// lease be asked for at once; one restart; the lease given back after the proof.
fn in_order_drain_lease_restart_proof_release(calls: &[(f64, String)]) {
    let failed = position(calls, 0, "probe rgw.a: timeout");
    let poll = position(calls, failed, "poll 192.0.2.10: down #");
    let held = position(calls, poll, "lease held-because rgw.s");
    let acquired = position(calls, held, "lease acquire rgw.s");
    let restart = position(calls, acquired, "restart rgw.a");
    let refresh = position(calls, restart, "inventory host1 --refresh");
    let passed = position(calls, restart, "probe rgw.a: ok");
    let released = position(
        calls,
        refresh.max(passed),
        "lease release restart-lease.rgw.s/slot-0",
    );
    // The poll is what let the restart go: the lease was asked for at the same instant.
    assert_eq!(calls[poll].0, calls[acquired].0, "{calls:#?}");
    assert!(calls[released].0 > calls[restart].0);
    assert_eq!(
        calls
            .iter()
            .filter(|(_, c)| c.starts_with("restart"))
            .count(),
        1,
        "one restart: {calls:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_daemon_is_drained_confirmed_leased_restarted_proven_and_released_in_order() {
    let _logging = LOGGING.read().await;
    let dir = scratch("failed");
    let cfg = Config::from_toml(&config_text(&dir, ""), "test").expect("a valid config");
    let drain_confirm_timeout = cfg.policy("rgw").drain_confirm_timeout;
    let fake = Fake::new();
    let mut running = serve(&fake, cfg);

    running.word("up ready", |w| *w == Word::UpReady).await;
    // HAProxy knows the daemon: from now on a new word waits for its next poll.
    running.poll(&fake, Word::UpReady).await;
    fake.script(|s| s.failing = true);
    let down = running.word("down", |w| matches!(w, Word::Down(_))).await;
    let down_at = tokio::time::Instant::now();
    // A second later (and within the drain confirmation's bound) HAProxy has not polled: no
    // restart yet.
    let later = (down_at + Duration::from_secs(1)).into_std();
    tokio::time::timeout(STUCK, running.view.wait_for(|view| view.at >= later))
        .await
        .expect("the shell publishes after every probe")
        .expect("the shell publishes until it stops");
    assert!(
        fake.calls()
            .iter()
            .all(|(_, call)| !call.starts_with("lease")),
        "nothing may be leased before HAProxy heard the word: {:#?}",
        fake.calls()
    );
    assert!(down_at.elapsed() < drain_confirm_timeout);
    running.poll(&fake, down.clone()).await;
    fake.wait_for_call("restart rgw.a").await;
    running
        .word("up ready again", |w| *w == Word::UpReady)
        .await;
    fake.wait_for_call("lease release").await;
    running.token.cancel();
    let code = tokio::time::timeout(STUCK, running.serving)
        .await
        .expect("the shell stops when cancelled")
        .expect("the shell does not panic");
    assert_eq!(code, crate::exitcode::OK);

    in_order_drain_lease_restart_proof_release(&fake.calls());
    assert_eq!(
        words(&running.api),
        [
            "starting: up".to_string(),
            "healthy: up ready".into(),
            "suspect: up ready".into(),
            format!("failed: {down}"),
            "restarting: down #restarting: asking the orchestrator".into(),
            // Taken (an event within the state): the fake world shows no process start.
            "restarting: down #restarting: waiting for the daemon to answer".into(),
            "recovering: down #recovering 1/2".into(),
            "healthy: up ready".into(),
        ]
    );
    assert_eq!(down, Word::Down("timeout".into()));
    // The core's proof is what the "verified" restart metric counts.
    let view = running.api.view.borrow().clone();
    let metrics = running
        .api
        .metrics
        .encode(&view, tokio::time::Instant::now().into_std());
    let verified = metrics
        .lines()
        .find(|l| l.contains("outcome=\"verified\"") && l.contains("rgw.a"))
        .unwrap_or_default()
        .to_string();
    assert!(verified.ends_with(" 1"), "{verified:?} in {metrics}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sidecar that starts while `orch ps` fails (a busy mgr) asks again after 1 s, then 2 s,
/// 4 s ..., not after the whole inventory interval (60 s) during which it would know no daemon.
#[tokio::test(start_paused = true)]
async fn a_failed_inventory_is_asked_again_soon_and_less_often_each_time() {
    let _logging = LOGGING.read().await;
    let dir = scratch("inventory-retry");
    let cfg = Config::from_toml(&config_text(&dir, ""), "test").expect("a valid config");
    assert_eq!(cfg.run.inventory.interval, Duration::from_secs(60));
    let fake = Fake::new();
    fake.script(|s| s.inventory_fails = 3);
    let mut running = serve(&fake, cfg);
    running.word("up ready", |w| *w == Word::UpReady).await;
    let asked: Vec<f64> = fake
        .calls()
        .into_iter()
        .filter(|(_, call)| call.starts_with("inventory host1"))
        .map(|(at, _)| at)
        .collect();
    let gaps: Vec<u64> = asked
        .windows(2)
        .map(|w| (w[1] - w[0]).round() as u64)
        .collect();
    assert_eq!(gaps, [1, 2, 4], "asked at {asked:?}");
    // Answered: back to the interval.
    let calls = fake.calls().len();
    fake.wait_for_call_after(calls, "inventory host1").await;
    let last_two: Vec<f64> = fake
        .calls()
        .into_iter()
        .filter(|(_, call)| call.starts_with("inventory host1"))
        .map(|(at, _)| at)
        .rev()
        .take(2)
        .collect();
    assert_eq!((last_two[0] - last_two[1]).round() as u64, 60);
    running.token.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn a_reload_with_a_bad_config_keeps_the_old_one_and_a_good_one_is_applied() {
    let _logging = LOGGING.read().await;
    let dir = scratch("reload");
    let path = dir.join("ceph-warden.toml");
    let write = |run: &str| {
        std::fs::write(&path, config_text(&dir, run)).expect("the scratch dir is writable");
    };
    write("probe-interval = \"500ms\"");
    let cfg = Config::load(Some(&path)).expect("a valid config");
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (mut shell, _wiring, _api, _) =
        Shell::start(cfg, Some(path.clone()), Fake::new(), &token, &tracker);
    let agent_listen = shell.cfg.run.listen.agent;
    let intervals = |shell: &Shell<Fake>| {
        (
            shell.cfg.run.probe.interval,
            shell.loops.probe_settings.borrow().interval,
            shell.loops.config.borrow().run.probe.interval,
        )
    };
    let half_a_second = Duration::from_millis(500);

    // What SIGHUP does (a real SIGHUP would go to the whole test binary).
    write("probe-interval = \"soon\"");
    shell.reload();
    assert_eq!(
        intervals(&shell),
        (half_a_second, half_a_second, half_a_second),
        "a rejected config changes nothing"
    );

    write("probe-interval = \"2s\"\nagent-listen = \"127.0.0.1:1\"");
    shell.reload();
    let two_seconds = Duration::from_secs(2);
    assert_eq!(
        intervals(&shell),
        (two_seconds, two_seconds, two_seconds),
        "the shell, the probe loop and the inventory loop read the new config"
    );
    assert_eq!(
        shell.cfg.run.listen.agent, agent_listen,
        "listen addresses change only with a restart"
    );
    token.cancel();
    tracker.close();
    tokio::time::timeout(STUCK, tracker.wait())
        .await
        .expect("every loop stops when cancelled");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_hung_restart_no_longer_than_shutdown_timeout_and_persists() {
    let _logging = LOGGING.read().await;
    let dir = scratch("shutdown");
    let cfg = Config::from_toml(&config_text(&dir, "shutdown-timeout = \"3s\""), "test")
        .expect("a valid config");
    let bound = cfg.run.shutdown_timeout;
    let fake = Fake::new();
    fake.script(|s| {
        s.failing = true;
        s.restart_hangs = true;
    });
    let running = serve(&fake, cfg);
    fake.wait_for_call("restart rgw.a").await;
    // The restart request wrote the state file already: gone now, it proves the way out
    // writes it.
    let state_file = crate::statefile::path_in(&dir);
    std::fs::remove_file(&state_file).expect("the restart request persisted the state");

    let cancelled_at = tokio::time::Instant::now();
    running.token.cancel();
    let code = tokio::time::timeout(bound * 2, running.serving)
        .await
        .expect("the shutdown path is bounded by shutdown-timeout")
        .expect("the shell does not panic");
    let took = cancelled_at.elapsed();
    assert_eq!(code, crate::exitcode::OK);
    // The hung restart is waited for, up to the bound, and not a moment longer.
    assert!(
        took >= bound && took <= bound + Duration::from_millis(1),
        "stopped after {took:?}, bound {bound:?}"
    );
    assert!(
        state_file.exists(),
        "the state (restart history) is persisted on the way out"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Held by every shell test, and alone by the one that reads the log. `tracing` caches whether
/// a call site is enabled, for every thread at once: a call site first reached on another
/// test's thread (no subscriber there) while this test's subscriber is being installed can
/// keep "disabled" and lose its lines here (seen: one run in six lost the lease's lines).
static LOGGING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The log, as the fmt subscriber of `main` writes it (without colours), kept for a test.
#[derive(Clone, Default)]
struct LogLines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("no test thread panicked")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogLines {
    /// The line whose message contains `message`.
    fn line(&self, message: &str) -> String {
        let text =
            String::from_utf8_lossy(&self.0.lock().expect("no test thread panicked")).into_owned();
        text.lines()
            .find(|line| line.contains(message))
            .unwrap_or_else(|| panic!("no line with `{message}`; log:\n{text}"))
            .to_string()
    }
}

#[tokio::test(start_paused = true)]
async fn the_restart_and_probe_lines_carry_the_daemon_from_their_span() {
    let _logging = LOGGING.write().await;
    let dir = scratch("spans");
    let cfg = Config::from_toml(&config_text(&dir, ""), "test").expect("a valid config");
    let log = LogLines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    // This thread only: the runtime of a paused-clock test runs every task on it.
    let _log = tracing::subscriber::set_default(subscriber);
    let fake = Fake::new();
    fake.script(|s| s.failing = true);
    let running = serve(&fake, cfg);
    fake.wait_for_call("restart rgw.a").await;
    running.token.cancel();
    tokio::time::timeout(STUCK, running.serving)
        .await
        .expect("the shell stops when cancelled")
        .expect("the shell does not panic");

    // `grep 'daemon=rgw.a'` (docs/operations.md) finds them: the span says it, once.
    for (span, message) in [
        (
            "restart",
            "took the restart lease restart-lease.rgw.s/slot-0 (host1:",
        ),
        ("restart", "asking the orchestrator for a restart"),
        ("probe", "probe step=http result=timeout"),
    ] {
        let line = log.line(message);
        assert!(
            line.contains(&format!(" {span}{{daemon=rgw.a}}: ")),
            "{line}"
        );
        assert_eq!(line.matches("rgw.a").count(), 1, "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
