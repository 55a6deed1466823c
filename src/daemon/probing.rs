//! The probes of `run`: every interval, each target's probe chain (`http`, `s3`, `asok`), the
//! facts the core needs to judge a failure (the admin socket, the health gate's finding, the
//! peers), and the in-flight count a planned restart waits for. Results go to the machine as
//! observations; the judgement is `machine::verdict`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::health_gate::HealthFinding;
use super::now;
use super::world::World;
use crate::config::{Config, ProbeStep};
use crate::machine::deadline::Timed;
use crate::machine::verdict::{AdminSocket, Outcome, ProbeClass, ProbeError, Step, Verdict};
use crate::machine::{Deadlines, Observation, State};
use crate::metrics::Metrics;
use crate::peers::Peer;
use crate::probe;
use crate::probe::http::HttpProbe;
use crate::probe::s3::S3Canary;
use crate::status::View;

/// A daemon the prober probes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    pub(super) name: String,
    /// What the http step requests.
    pub(super) url: String,
    /// The probe chain of its type.
    pub(super) chain: Vec<ProbeStep>,
    /// Admin socket template and RADOS stall threshold, for the asok step.
    pub(super) asok: (String, Duration),
    /// The other daemons of its service (load-balanced types, orchestrator inventory only):
    /// compared with when a probe fails.
    pub(super) peers: Vec<Peer>,
}

#[derive(Debug, Clone)]
pub(super) struct ProbeSettings {
    pub(super) interval: Duration,
    pub(super) prober: Option<HttpProbe>,
    s3: Option<S3Canary>,
}

pub(super) fn probe_settings(cfg: &Config) -> ProbeSettings {
    ProbeSettings {
        interval: cfg.run.probe.interval,
        prober: HttpProbe::new(cfg.run.probe.timeout, cfg.check.accept_status.clone()).ok(),
        s3: cfg.s3.as_ref().and_then(|s3| {
            S3Canary::new(
                s3.bucket.clone(),
                s3.object.clone(),
                s3.region.clone(),
                s3.create,
                s3.credentials.clone(),
                s3.timeout,
            )
            .ok()
        }),
    }
}

/// What the chain consults besides the daemon: its peers, and the cluster's health.
pub(super) struct ChainContext<'a> {
    pub(super) peers: &'a crate::peers::Cache,
    /// The health gate's finding (`ceph health: SLOW_OPS (...)`), when fresh.
    pub(super) health: Option<String>,
    /// The deadlines learned for the daemon's service.
    pub(super) deadlines: Deadlines,
}

pub(super) fn step_of(step: ProbeStep) -> Step {
    match step {
        ProbeStep::Http => Step::Http,
        ProbeStep::S3 => Step::S3,
        ProbeStep::Asok => Step::Asok,
    }
}

/// Runs the chain's steps and gathers what the core needs to judge a failure (the admin
/// socket, the health gate's finding, the peers and the failing step asked again); every
/// judgement is [`Outcome`]'s.
pub(super) async fn run_chain(
    target: &Target,
    http: &HttpProbe,
    s3: Option<&S3Canary>,
    context: &ChainContext<'_>,
) -> Outcome {
    let mut chain = Outcome::default();
    for step in &target.chain {
        let start = tokio::time::Instant::now();
        let result = match step {
            ProbeStep::Http => http.probe(&target.url).await.0,
            ProbeStep::S3 => match s3 {
                Some(s3) => s3.probe_daemon(&target.url).await,
                None => Err(ProbeError::Config("s3 probe without [s3] settings".into())),
            },
            ProbeStep::Asok => match rados_stall(target, context.deadlines.asok).await {
                Ok(socket) => {
                    chain.times.extend(socket_time(&socket, start.elapsed()));
                    match socket {
                        AdminSocket::Stalled { stall, replies } => {
                            chain.rados_replies = replies;
                            Ok(Verdict::Degraded { reason: stall })
                        }
                        AdminSocket::Answered | AdminSocket::Silent | AdminSocket::Gone => {
                            Ok(Verdict::Ok)
                        }
                    }
                }
                Err(problem) => Err(ProbeError::Config(problem.to_string())),
            },
        };
        if *step != ProbeStep::Asok && timed(&result) {
            chain.times.push(Timed {
                step: step_of(*step),
                took: start.elapsed(),
                answered: !matches!(result, Err(ProbeError::Timeout)),
            });
        }
        if !chain.step(step_of(*step), result) {
            break;
        }
    }
    if chain.steps_done() {
        return chain;
    }
    // The admin socket first: a live RGW's answers in milliseconds, and an old RADOS op
    // decides without asking the peers (which would add to the stalled RGWs' queues). A frozen
    // RGW's socket takes its whole second: after SOCKET_FIRST the peers and the failing step
    // asked again go out beside it (one after the other, they added a second to every frozen
    // RGW's verdict). Judged in the old order: the socket, the health gate, the peers, which
    // are not asked when the health gate decides anyway.
    let ask_socket = chain.waits_on_rados() && target.chain.contains(&ProbeStep::Asok);
    let gate_decides = chain.clone().health(context.health.as_deref());
    let ask_peers = !target.peers.is_empty() && !gate_decides;
    let s3 = s3.filter(|_| target.chain.contains(&ProbeStep::S3));
    let step = chain.step;
    let beside_peers = async {
        if !ask_peers {
            return None;
        }
        let again = async {
            match (step, s3) {
                (Step::S3, Some(s3)) => s3.probe_daemon(&target.url).await,
                _ => http.probe(&target.url).await.0,
            }
        };
        Some(tokio::join!(
            context.peers.compare(&target.peers, http, s3),
            again
        ))
    };
    let beside_peers = if ask_socket {
        let asked = tokio::time::Instant::now();
        let socket = async {
            let socket = rados_stall(target, context.deadlines.asok).await;
            (socket, asked.elapsed())
        };
        tokio::pin!(socket, beside_peers);
        let (socket, beside) = match tokio::time::timeout(SOCKET_FIRST, &mut socket).await {
            Ok(answered) => (answered, None),
            Err(_) => {
                let (socket, beside) = tokio::join!(socket, &mut beside_peers);
                (socket, Some(beside))
            }
        };
        let (socket, took) = socket;
        if let Ok(answer) = &socket {
            chain.times.extend(socket_time(answer, took));
        }
        if chain.rados(socket.map_err(|problem| problem.to_string())) {
            return chain;
        }
        match beside {
            Some(beside) => beside,
            None => beside_peers.await,
        }
    } else {
        beside_peers.await
    };
    if chain.health(context.health.as_deref()) {
        return chain;
    }
    let Some((report, again)) = beside_peers else {
        return chain;
    };
    let failure = chain.failure();
    let judgement = crate::peers::judge(chain.step, &failure, &report);
    if chain.peers(judgement, &again) {
        tracing::info!(
            "{} {failure}, then ok when asked again beside its peers: not counted",
            chain.step
        );
    }
    chain
}

/// Whether a probe step's time says how fast the daemon answers: an answer (any status), or
/// its deadline run out (it took at least that). Refused and the like come back at once.
fn timed(result: &Result<Verdict, ProbeError>) -> bool {
    matches!(
        result,
        Ok(_) | Err(ProbeError::Http(_) | ProbeError::Timeout)
    )
}

/// The admin socket's time, as the deadlines learn it: an answer, or its deadline run out
/// (silent); a socket nobody listens on says nothing of how fast the daemon answers.
fn socket_time(socket: &AdminSocket, took: Duration) -> Option<Timed> {
    (*socket != AdminSocket::Gone).then(|| Timed {
        step: Step::Asok,
        took,
        answered: *socket != AdminSocket::Silent,
    })
}

/// How long a failure waits for the admin socket alone before the peers are asked beside it.
const SOCKET_FIRST: Duration = Duration::from_millis(200);

/// Why the RADOS-stall check cannot run for a daemon: a configuration problem, shown in
/// `/status`, that leaves the check off for it.
#[derive(Debug, thiserror::Error)]
pub(super) enum AsokProblem {
    #[error("asok: no admin socket matches {template} for {daemon}: the RADOS-stall check is off for it (set daemon-types.{daemon_type}.admin-socket, or leave asok out of its probes)")]
    NoSocket {
        template: String,
        daemon: String,
        daemon_type: String,
    },
    #[error("asok: permission denied on {}: this user may not use {daemon}'s admin socket, so the RADOS-stall check is off for it (docs/install.md: admin_socket_mode and the ceph group)", .path.display())]
    PermissionDenied { path: PathBuf, daemon: String },
}

/// `Stalled("rados: oldest op 4.2s on osd.0 ...")` when the daemon's oldest RADOS operation is
/// older than the threshold, with its count of replies from the OSDs (its `perf dump`, asked
/// then: whether RADOS answers it at all); `Answered` when it is not; `Silent` when the admin socket does not
/// answer within `deadline` (a frozen daemon's does not). `Err` when no socket is where the
/// config says, or the service user may not use it.
pub(super) async fn rados_stall(
    target: &Target,
    deadline: Duration,
) -> Result<AdminSocket, AsokProblem> {
    let (template, threshold) = &target.asok;
    let Some(path) = crate::probe::asok::find(template, &target.name) else {
        return Err(AsokProblem::NoSocket {
            template: template.clone(),
            daemon: target.name.clone(),
            daemon_type: target.name.split('.').next().unwrap_or_default().into(),
        });
    };
    let reply =
        match crate::probe::asok::command(&path, r#"{"prefix": "objecter_requests"}"#, deadline)
            .await
        {
            Ok(reply) => reply,
            Err(crate::probe::asok::AsokError::Connect { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Err(AsokProblem::PermissionDenied {
                    path,
                    daemon: target.name.clone(),
                });
            }
            Err(err) => {
                tracing::debug!("asok: {err}");
                return Ok(unanswered(&err));
            }
        };
    let Ok(Some(oldest)) = crate::probe::asok::oldest_op(&reply) else {
        return Ok(AdminSocket::Answered);
    };
    if oldest.age < threshold.as_secs_f64() {
        return Ok(AdminSocket::Answered);
    }
    let osd = oldest
        .osd
        .map_or_else(|| "an unknown OSD".to_string(), |osd| format!("osd.{osd}"));
    Ok(AdminSocket::Stalled {
        stall: format!(
            "rados: oldest op {:.1}s on {osd} ({} in flight)",
            oldest.age, oldest.ops
        ),
        replies: crate::probe::asok::replies(&path, deadline).await,
    })
}

/// What an admin socket that gave no reply says of its process. No answer in time, or a full
/// listen queue (EAGAIN: the connections before this one were never accepted): a process that
/// accepts nothing, silent. Refused or no file: no process listens, gone. Anything else came
/// from the daemon or the exchange: it answered.
fn unanswered(err: &crate::probe::asok::AsokError) -> AdminSocket {
    use crate::probe::asok::AsokError;
    match err {
        AsokError::Timeout { .. } => AdminSocket::Silent,
        AsokError::Connect { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock => {
            AdminSocket::Silent
        }
        AsokError::Connect { .. } => AdminSocket::Gone,
        AsokError::Protocol { .. } | AsokError::Daemon { .. } => AdminSocket::Answered,
    }
}

/// While a planned restart waits for in-flight requests, counts them every 200 ms: the
/// established connections to the daemon's port (see [`crate::probe::connections`]).
pub(super) async fn in_flight_loop<W: World>(
    world: Arc<W>,
    view: watch::Receiver<Arc<View>>,
    targets: watch::Receiver<Arc<Vec<Target>>>,
    observations: mpsc::Sender<Observation>,
    token: CancellationToken,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let waiting: Vec<String> = view
            .borrow()
            .snapshot
            .daemons
            .iter()
            .filter(|d| d.operator.planned_restart && d.state == State::Draining)
            .map(|d| d.name.clone())
            .collect();
        for name in waiting {
            let port = targets
                .borrow()
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| reqwest::Url::parse(&t.url).ok()?.port_or_known_default());
            let Some(active) = port.and_then(|port| world.in_flight(port)) else {
                continue;
            };
            tracing::debug!(daemon = %name, active, "in-flight requests");
            let active = u64::try_from(active).unwrap_or(u64::MAX);
            let _ = observations
                .send(Observation::InFlight {
                    daemon: name,
                    active,
                })
                .await;
        }
    }
}

/// The probe loop's inputs and outputs: what each probe task reads and where its result goes.
pub(super) struct Prober<W> {
    pub(super) world: Arc<W>,
    /// The published view: which daemons are degraded (probed less often).
    pub(super) view: watch::Receiver<Arc<View>>,
    pub(super) targets: watch::Receiver<Arc<Vec<Target>>>,
    pub(super) health: watch::Receiver<HealthFinding>,
    pub(super) observations: mpsc::Sender<Observation>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) tracker: TaskTracker,
    /// Peer comparisons, reused for a second.
    pub(super) peers: crate::peers::Cache,
}

/// Probes under way, by daemon: they may overlap, up to the number that fit in one timeout.
type Running = std::sync::Mutex<BTreeMap<String, Arc<AtomicUsize>>>;

/// One probe of a daemon under way; counted until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A slot for one more probe of `name`, unless `max` are under way already.
fn slot(running: &Running, name: &str, max: usize) -> Option<Slot> {
    let counter = running
        .lock()
        .ok()
        .map(|mut map| Arc::clone(map.entry(name.to_string()).or_default()))?;
    if counter.load(Ordering::Relaxed) >= max {
        return None;
    }
    counter.fetch_add(1, Ordering::Relaxed);
    Some(Slot(counter))
}

impl<W: World> Prober<W> {
    /// Starts a probe of every target every interval; a probe may overlap the next one (each
    /// has its own deadline), up to the number that fit in one timeout.
    pub(super) async fn probe_loop(
        self,
        mut settings: watch::Receiver<ProbeSettings>,
        token: CancellationToken,
    ) {
        let prober = Arc::new(self);
        let running = Running::default();
        let mut tick = 0u64;
        loop {
            let current = settings.borrow_and_update().clone();
            let mut ticker = tokio::time::interval(current.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = settings.changed() => break,
                    _ = ticker.tick() => {}
                }
                let Some(http) = &current.prober else {
                    tracing::error!("no HTTP client: probes cannot run");
                    continue;
                };
                tick = tick.wrapping_add(1);
                let max_overlap =
                    1 + usize::try_from(prober_timeout_ticks(http, current.interval)).unwrap_or(1);
                for target in prober.due(tick) {
                    if let Some(slot) = slot(&running, &target.name, max_overlap) {
                        let (http, s3) = (http.clone(), current.s3.clone());
                        Arc::clone(&prober).spawn_probe(target, http, s3, slot);
                    }
                }
            }
        }
    }

    /// The targets to probe at this tick: each at the pace the core gives its state.
    fn due(&self, tick: u64) -> Vec<Target> {
        let view = Arc::clone(&self.view.borrow());
        let pace = |name: &str| {
            view.snapshot
                .daemon(name)
                .map_or(1, |d| d.state.probe_one_tick_in())
        };
        let targets = Arc::clone(&self.targets.borrow());
        targets
            .iter()
            .filter(|target| tick % pace(&target.name) == 0)
            .cloned()
            .collect()
    }

    /// One probe of `target`, as a task in the daemon's span; its outcome goes to the machine.
    fn spawn_probe(
        self: Arc<Self>,
        target: Target,
        http: HttpProbe,
        s3: Option<S3Canary>,
        slot: Slot,
    ) {
        let health = self.health.borrow().current();
        // The deadlines learned for its service; the configured timeouts until it is known.
        let deadlines = self
            .view
            .borrow()
            .snapshot
            .daemon(&target.name)
            .map(|d| d.deadlines);
        let (http, s3, deadlines) = match deadlines {
            Some(d) => {
                let s3 = s3.map(|mut s3| {
                    s3.timeout = d.s3;
                    s3
                });
                (http.with_timeout(d.http), s3, d)
            }
            None => {
                let d = Deadlines {
                    http: http.timeout(),
                    s3: s3.as_ref().map_or(http.timeout(), |s3| s3.timeout),
                    asok: http.timeout(),
                };
                (http, s3, d)
            }
        };
        // Which process answers matters only to a restart under way (its proof); not a look
        // at the host's files at every probe of every daemon.
        let restarting = self
            .view
            .borrow()
            .snapshot
            .daemon(&target.name)
            .is_some_and(|d| matches!(d.state, State::Restarting | State::Recovering));
        let span = tracing::info_span!("probe", daemon = %target.name);
        let tracker = self.tracker.clone();
        tracker.spawn(
            async move {
                // Before the probe: a probe that passes after this was answered by this
                // process or a newer one.
                let started = restarting
                    .then(|| self.world.process_started_ago(&target))
                    .flatten();
                if let Some(ago) = started {
                    let _ = self
                        .observations
                        .send(Observation::ProcessStarted {
                            daemon: target.name.clone(),
                            ago,
                        })
                        .await;
                }
                let sent = now();
                let start = tokio::time::Instant::now();
                let context = ChainContext {
                    peers: &self.peers,
                    health,
                    deadlines,
                };
                let outcome = self
                    .world
                    .probe(&target, &http, s3.as_ref(), &context)
                    .await;
                let took = start.elapsed();
                drop(slot);
                self.metrics
                    .probe(&target.name, ProbeClass::of(&outcome.result), took);
                tracing::debug!(
                    step = %outcome.step,
                    result = %probe::describe(&outcome.result),
                    ?took,
                    "probe"
                );
                let _ = self
                    .observations
                    .send(Observation::Probe {
                        daemon: target.name,
                        result: outcome.result,
                        sent,
                        step: outcome.step,
                        config_problem: outcome.config_problem,
                        no_healthy_peer: outcome.no_healthy_peer,
                        hang: outcome.hang,
                        times: outcome.times,
                        rados_replies: outcome.rados_replies,
                    })
                    .await;
            }
            .instrument(span),
        );
    }
}

pub(super) fn prober_timeout_ticks(prober: &HttpProbe, interval: Duration) -> u64 {
    let timeout = prober.timeout().as_millis();
    let interval = interval.as_millis().max(1);
    u64::try_from(timeout.div_ceil(interval)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_admin_socket_is_a_configuration_problem_that_says_what_to_set() {
        let target = Target {
            name: "rgw.a".into(),
            url: "http://192.0.2.1:8080/".into(),
            chain: vec![ProbeStep::Asok],
            asok: (
                "/nonexistent/ceph-client.{name}.asok".into(),
                Duration::from_secs(5),
            ),
            peers: Vec::new(),
        };
        let problem = rados_stall(&target, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(problem, AsokProblem::NoSocket { .. }),
            "{problem:?}"
        );
        assert_eq!(
            problem.to_string(),
            "asok: no admin socket matches /nonexistent/ceph-client.{name}.asok for rgw.a: the RADOS-stall check is off for it (set daemon-types.rgw.admin-socket, or leave asok out of its probes)"
        );
    }

    /// What a kill of a hung process goes by: a socket whose process accepts nothing is
    /// silent, whether the connection waits in its queue for the whole timeout or the queue is
    /// full already (a frozen RGW's, after the probes before); a socket nobody listens on (a
    /// dead process's file) is gone, not hung. Real Unix sockets.
    #[tokio::test]
    async fn a_socket_that_accepts_nothing_is_silent_and_one_nobody_listens_on_is_gone() {
        let dir =
            std::env::temp_dir().join(format!("ceph-warden-probing-asok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = |name: &str| Target {
            name: name.into(),
            url: "http://192.0.2.1:8080/".into(),
            chain: vec![ProbeStep::Asok],
            asok: (
                format!("{}/ceph-client.{{name}}.asok", dir.display()),
                Duration::from_secs(5),
            ),
            peers: Vec::new(),
        };
        // Bound and listening, never accepting: the connection waits out the 1 s timeout.
        let frozen =
            std::os::unix::net::UnixListener::bind(dir.join("ceph-client.rgw.a.asok")).unwrap();
        assert_eq!(
            rados_stall(&target("rgw.a"), Duration::from_secs(1))
                .await
                .unwrap(),
            AdminSocket::Silent
        );
        // Its queue full: the next connect is refused at once with EAGAIN, still silent.
        let mut queued = Vec::new();
        while let Ok(stream) =
            tokio::net::UnixStream::connect(dir.join("ceph-client.rgw.a.asok")).await
        {
            queued.push(stream);
            assert!(queued.len() < 10_000, "the listen queue never filled");
        }
        let full = crate::probe::asok::command(
            &dir.join("ceph-client.rgw.a.asok"),
            r#"{"prefix": "objecter_requests"}"#,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&full, crate::probe::asok::AsokError::Connect { source, .. } if source.kind() == std::io::ErrorKind::WouldBlock),
            "{full:?}"
        );
        assert_eq!(unanswered(&full), AdminSocket::Silent);
        assert_eq!(
            rados_stall(&target("rgw.a"), Duration::from_secs(1))
                .await
                .unwrap(),
            AdminSocket::Silent
        );
        drop(frozen);
        // The file of a process that is gone: refused.
        assert_eq!(
            rados_stall(&target("rgw.a"), Duration::from_secs(1))
                .await
                .unwrap(),
            AdminSocket::Gone
        );
        drop(queued);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
