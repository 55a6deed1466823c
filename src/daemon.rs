//! The shell of `ceph-warden run`: owns the runtime pieces around the pure [`Machine`].
//!
//! It refreshes the inventory, runs the probes on timers, feeds every result into the machine,
//! carries out the [`Action`]s it returns (restart through the orchestrator chain, persist the
//! state file, refresh the inventory, log and keep events), and publishes a fresh [`View`] after
//! every change for the agent, the HTTP API and the metrics. It is the only place that reads
//! the clock. One [`CancellationToken`] and one [`TaskTracker`] make the one shutdown path:
//! signal → STOPPING=1 → stop accepting → cancel → wait (bounded) → persist → exit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, InventorySource, ProbeStep};
use crate::exitcode;
use crate::http::{Api, CommandRequest};
use crate::inventory::{self, Daemon};
use crate::machine::verdict::{Outcome, ProbeClass, ProbeError, Step, Verdict};
use crate::machine::{Action, Discovered, Machine, Observation, Policy, State};
use crate::metrics::{Metrics, RestartOutcome};
use crate::orchestrate::{Chain, Orchestrator};
use crate::peers::Peer;
use crate::probe;
use crate::probe::http::HttpProbe;
use crate::probe::s3::S3Canary;
use crate::statefile;
use crate::status::{EventLog, InventoryStatus, View};

/// The wall clock: only for timestamps people read and for the state file.
#[expect(
    clippy::disallowed_methods,
    reason = "the shell is the one place that reads the clock"
)]
fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// The machine's clock (tokio's, so paused-time tests control it).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// This host's name as cephadm knows it: the kernel's host name up to the first dot.
pub fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().split('.').next().unwrap_or_default().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A daemon the prober probes.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    name: String,
    /// What the http step requests.
    url: String,
    /// The probe chain of its type.
    chain: Vec<ProbeStep>,
    /// Admin socket template and RADOS stall threshold, for the asok step.
    asok: (String, Duration),
    /// The other daemons of its service (load-balanced types, orchestrator inventory only):
    /// compared with when a probe fails.
    peers: Vec<Peer>,
}

/// The result of one inventory refresh.
struct InventoryUpdate {
    result: Result<(Vec<Daemon>, Option<String>), String>,
    /// The daemons of the watched load-balanced types on every host (`ceph orch ps
    /// --daemon_type rgw`), when that call succeeded.
    peers: Option<Vec<Daemon>>,
}

/// `ceph-warden run`. Returns the process exit code.
pub async fn run(cfg: Config, config_path: Option<PathBuf>) -> u8 {
    // SIGHUP reloads the file the config came from, the default one included.
    let config_path = config_path.or_else(|| {
        let default = PathBuf::from(crate::config::DEFAULT_PATH);
        default.exists().then_some(default)
    });
    let host = cfg.run.host.clone().unwrap_or_else(short_hostname);
    match &config_path {
        Some(path) => tracing::info!("configuration from {}", path.display()),
        None => tracing::warn!(
            "no configuration file (no --config, and {} does not exist): running on the built-in defaults",
            crate::config::DEFAULT_PATH
        ),
    }
    if let Err(err) = statefile::check_writable(&cfg.state_directory) {
        eprintln!(
            "ceph-warden: error: cannot write the state directory {}: {err}; drains, maintenance and restart budgets would not survive a restart (set state-directory in the config, or fix the directory's owner and mode)",
            cfg.state_directory.display()
        );
        return exitcode::CANT_CREATE;
    }
    let agent_listener = match TcpListener::bind(cfg.run.agent_listen).await {
        Ok(l) => l,
        Err(err) => {
            eprintln!(
                "ceph-warden: error: cannot listen for HAProxy agent checks on {}: {err}",
                cfg.run.agent_listen
            );
            return exitcode::OS_ERROR;
        }
    };
    let http_listener = match TcpListener::bind(cfg.run.http_listen).await {
        Ok(l) => l,
        Err(err) => {
            eprintln!(
                "ceph-warden: error: cannot listen for the HTTP API on {}: {err}",
                cfg.run.http_listen
            );
            return exitcode::OS_ERROR;
        }
    };
    let agent_addr = agent_listener
        .local_addr()
        .map_or_else(|_| cfg.run.agent_listen.to_string(), |a| a.to_string());
    let http_addr = http_listener
        .local_addr()
        .map_or_else(|_| cfg.run.http_listen.to_string(), |a| a.to_string());

    let state_path = statefile::path_in(&cfg.state_directory);
    let loaded = statefile::load(&state_path, wall_now());
    if let Some(warning) = &loaded.warning {
        tracing::warn!("{warning}");
    }
    let (policies, default_policy) = policies(&cfg);
    let mut machine = Machine::new(policies, default_policy, loaded.daemons);
    machine.set_max_concurrent_restarts(cfg.lease.as_ref().map_or(1, |lease| lease.slots));

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (observations_tx, observations_rx) = mpsc::channel::<Observation>(4096);
    let (commands_tx, commands_rx) = mpsc::channel::<CommandRequest>(64);
    let (inventory_tx, inventory_rx) = mpsc::channel::<InventoryUpdate>(4);
    let (targets_tx, targets_rx) = watch::channel::<Arc<Vec<Target>>>(Arc::new(Vec::new()));
    let (probe_tx, probe_rx) = watch::channel(probe_settings(&cfg));
    let inventory_source = match &cfg.run.inventory {
        InventorySource::CephOrch => "ceph-orch",
        InventorySource::Static(_) => "static",
    };
    let view = View {
        snapshot: machine.snapshot(),
        at: now(),
        wall: wall_now(),
        host: host.clone(),
        inventory: InventoryStatus {
            source: inventory_source.to_string(),
            ..InventoryStatus::default()
        },
        health_gate: crate::status::HealthGateStatus::default(),
    };
    let (view_tx, view_rx) = watch::channel(Arc::new(view));
    let events = Arc::new(EventLog::default());
    let metrics = Arc::new(Metrics::new());
    let refresh = Arc::new(Notify::new());

    tracker.spawn(crate::agent::serve(
        agent_listener,
        view_rx.clone(),
        observations_tx.clone(),
        cfg.run.max_agent_connections,
        Arc::clone(&metrics),
        token.clone(),
        tracker.clone(),
    ));
    let api = Api {
        view: view_rx.clone(),
        events: Arc::clone(&events),
        metrics: Arc::clone(&metrics),
        commands: commands_tx,
    };
    tracker.spawn(crate::http::serve(
        http_listener,
        api,
        token.clone(),
        tracker.clone(),
    ));
    let (config_tx, config_rx) = watch::channel(Arc::new(cfg.clone()));
    tracker.spawn(inventory_loop(
        config_rx.clone(),
        host.clone(),
        inventory_tx,
        Arc::clone(&refresh),
        token.clone(),
    ));
    tracker.spawn(in_flight_loop(
        view_rx.clone(),
        targets_rx.clone(),
        observations_tx.clone(),
        token.clone(),
    ));
    let (health_tx, health_rx) = watch::channel(HealthFinding::none());
    tracker.spawn(health_loop(config_rx.clone(), health_tx, token.clone()));
    tracker.spawn(probe_loop(
        view_rx.clone(),
        targets_rx,
        probe_rx,
        health_rx.clone(),
        observations_tx.clone(),
        Arc::clone(&metrics),
        token.clone(),
        tracker.clone(),
    ));

    let mut shell = Shell {
        cfg,
        config_path,
        host,
        machine,
        known: BTreeMap::new(),
        inventory: InventoryStatus {
            source: inventory_source.to_string(),
            ..InventoryStatus::default()
        },
        last_inventory_json: None,
        peer_daemons: Vec::new(),
        state_path,
        orchestrator: Arc::new(Chain {
            backends: Vec::new(),
        }),
        observations: observations_tx,
        targets: targets_tx,
        probe_settings: probe_tx,
        config: config_tx,
        view: view_tx,
        events,
        metrics,
        refresh,
        tracker: tracker.clone(),
        leases: Arc::default(),
        health: health_rx,
    };
    shell.orchestrator = Arc::new(Chain::from_config(
        &shell.cfg.run.orchestrators,
        &shell.cfg.ceph,
    ));
    // The last good inventory from the state file serves until the orchestrator answers.
    if let (InventorySource::CephOrch, Some(json)) = (&shell.cfg.run.inventory, loaded.inventory) {
        if let Ok(daemons) = inventory::parse(&json) {
            shell.apply_inventory(daemons, Some(json), true);
        }
    }
    shell.publish();
    tracing::info!(agent = %agent_addr, http = %http_addr, host = %shell.host, "ceph-warden running");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let code = shell
        .main_loop(observations_rx, commands_rx, inventory_rx, &token)
        .await;

    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    token.cancel();
    tracker.close();
    if tokio::time::timeout(shell.cfg.run.shutdown_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "some tasks did not finish within {:?}; exiting anyway",
            shell.cfg.run.shutdown_timeout
        );
    }
    shell.persist();
    tracing::info!("ceph-warden stopped");
    code
}

fn policies(cfg: &Config) -> (BTreeMap<String, Policy>, Policy) {
    let mut policies = BTreeMap::new();
    for daemon_type in &cfg.run.types {
        policies.insert(daemon_type.clone(), cfg.policy(daemon_type));
    }
    (policies, cfg.policy("other"))
}

#[derive(Debug, Clone)]
struct ProbeSettings {
    interval: Duration,
    prober: Option<HttpProbe>,
    s3: Option<S3Canary>,
}

fn probe_settings(cfg: &Config) -> ProbeSettings {
    ProbeSettings {
        interval: cfg.run.probe_interval,
        prober: HttpProbe::new(cfg.run.probe_timeout, cfg.check.accept_status.clone()).ok(),
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
struct ChainContext<'a> {
    peers: &'a crate::peers::Cache,
    /// The health gate's finding (`ceph health: SLOW_OPS (...)`), when fresh.
    health: Option<String>,
}

fn step_of(step: ProbeStep) -> Step {
    match step {
        ProbeStep::Http => Step::Http,
        ProbeStep::S3 => Step::S3,
        ProbeStep::Asok => Step::Asok,
    }
}

/// Runs the chain's steps and gathers what the core needs to judge a failure (the admin
/// socket, the health gate's finding, the peers and the failing step asked again); every
/// judgement is [`Outcome`]'s.
async fn run_chain(
    target: &Target,
    http: &HttpProbe,
    s3: Option<&S3Canary>,
    context: &ChainContext<'_>,
) -> Outcome {
    let mut chain = Outcome::default();
    for step in &target.chain {
        let result = match step {
            ProbeStep::Http => http.probe(&target.url).await.0,
            ProbeStep::S3 => match s3 {
                Some(s3) => s3.probe_daemon(&target.url).await,
                None => Err(ProbeError::Config("s3 probe without [s3] settings".into())),
            },
            ProbeStep::Asok => match rados_stall(target).await {
                Ok(Some(stall)) => Ok(Verdict::Degraded { reason: stall }),
                Ok(None) => Ok(Verdict::Ok),
                Err(missing) => Err(ProbeError::Config(missing)),
            },
        };
        if !chain.step(step_of(*step), result) {
            break;
        }
    }
    if chain.steps_done() {
        return chain;
    }
    if chain.waits_on_rados()
        && target.chain.contains(&ProbeStep::Asok)
        && chain.rados(rados_stall(target).await)
    {
        return chain;
    }
    if chain.health(context.health.as_deref()) || target.peers.is_empty() {
        return chain;
    }
    let s3 = s3.filter(|_| target.chain.contains(&ProbeStep::S3));
    let again = async {
        match (chain.step, s3) {
            (Step::S3, Some(s3)) => s3.probe_daemon(&target.url).await,
            _ => http.probe(&target.url).await.0,
        }
    };
    let (report, again) = tokio::join!(context.peers.compare(&target.peers, http, s3), again);
    let judgement = crate::peers::judge(chain.step, &chain.failure(), &report);
    let failure = chain.failure();
    chain.peers(judgement, &again);
    if chain.result.is_ok() && matches!(again, Ok(Verdict::Ok)) && chain.step != Step::Peers {
        tracing::info!(daemon = %target.name, "{} {failure}, then ok when asked again beside its peers: not counted", chain.step);
    }
    chain
}

/// `rados: oldest op 4.2s on osd.0` when the daemon's oldest RADOS operation is older than the
/// threshold; `None` when it is not, or the admin socket does not answer within 1 s (a frozen
/// daemon's does not). `Err` when no socket is where the config says: a configuration
/// problem, shown in `/status`, that leaves the RADOS-stall check off for this daemon.
async fn rados_stall(target: &Target) -> Result<Option<String>, String> {
    let (template, threshold) = &target.asok;
    let Some(path) = crate::probe::asok::find(template, &target.name) else {
        let daemon_type = target.name.split('.').next().unwrap_or_default();
        return Err(format!(
            "asok: no admin socket matches {template} for {}: the RADOS-stall check is off for it (set daemon-types.{daemon_type}.admin-socket, or leave asok out of its probes)",
            target.name
        ));
    };
    let Ok(reply) = crate::probe::asok::command(
        &path,
        r#"{"prefix": "objecter_requests"}"#,
        Duration::from_secs(1),
    )
    .await
    .map_err(|err| tracing::debug!(daemon = %target.name, "asok: {err}")) else {
        return Ok(None);
    };
    let Ok(Some(oldest)) = crate::probe::asok::oldest_op(&reply) else {
        return Ok(None);
    };
    Ok((oldest.age >= threshold.as_secs_f64()).then(|| {
        let osd = oldest
            .osd
            .map_or_else(|| "an unknown OSD".to_string(), |osd| format!("osd.{osd}"));
        format!(
            "rados: oldest op {:.1}s on {osd} ({} in flight)",
            oldest.age, oldest.ops
        )
    }))
}

struct Shell {
    cfg: Config,
    config_path: Option<PathBuf>,
    host: String,
    machine: Machine,
    /// The daemons of the inventory in force, by name.
    known: BTreeMap<String, Daemon>,
    inventory: InventoryStatus,
    last_inventory_json: Option<String>,
    /// The last list of the load-balanced daemons on every host (peer comparison).
    peer_daemons: Vec<Daemon>,
    state_path: PathBuf,
    orchestrator: Arc<Chain>,
    observations: mpsc::Sender<Observation>,
    targets: watch::Sender<Arc<Vec<Target>>>,
    probe_settings: watch::Sender<ProbeSettings>,
    /// The config the inventory loop reads (ceph CLI, interval, static list).
    config: watch::Sender<Arc<Config>>,
    view: watch::Sender<Arc<View>>,
    events: Arc<EventLog>,
    metrics: Arc<Metrics>,
    refresh: Arc<Notify>,
    tracker: TaskTracker,
    /// Restart leases this sidecar holds, by daemon.
    leases: Arc<std::sync::Mutex<BTreeMap<String, crate::lease::Held>>>,
    /// The health gate's last finding, for `/status`.
    health: watch::Receiver<HealthFinding>,
}

impl Shell {
    async fn main_loop(
        &mut self,
        mut observations: mpsc::Receiver<Observation>,
        mut commands: mpsc::Receiver<CommandRequest>,
        mut inventory: mpsc::Receiver<InventoryUpdate>,
        token: &CancellationToken,
    ) -> u8 {
        let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            eprintln!("ceph-warden: error: cannot install signal handlers");
            return exitcode::INTERNAL;
        };
        let watchdog_period = watchdog_period();
        let watchdog_enabled = watchdog_period.is_some();
        // Ping at half the period, from this loop: a stuck loop stops pinging and is restarted.
        let mut watchdog =
            tokio::time::interval(watchdog_period.map_or(Duration::from_secs(3600), |p| p / 2));
        loop {
            let deadline = self
                .machine
                .next_deadline()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                Some(observation) = observations.recv() => {
                    let actions = self.machine.observe(observation, now());
                    self.execute(actions);
                }
                Some(request) = commands.recv() => {
                    let result = self.machine.command(&request.daemon, request.command, now());
                    let reply = match result {
                        Ok(actions) => {
                            tracing::info!(daemon = %request.daemon, command = ?request.command, "operator command");
                            self.execute(actions);
                            Ok(())
                        }
                        Err(err) => Err(err),
                    };
                    self.publish();
                    let _ = request.reply.send(reply);
                }
                Some(update) = inventory.recv() => self.inventory_update(update),
                () = sleep_until(deadline) => {
                    let actions = self.machine.tick(now());
                    self.execute(actions);
                }
                _ = watchdog.tick(), if watchdog_enabled => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
                _ = terminate.recv() => { tracing::info!("SIGTERM: shutting down"); return exitcode::OK; }
                _ = interrupt.recv() => { tracing::info!("SIGINT: shutting down"); return exitcode::OK; }
                _ = hangup.recv() => self.reload(),
                () = token.cancelled() => return exitcode::OK,
            }
            self.publish();
        }
    }

    fn execute(&mut self, actions: Vec<Action>) {
        let mut persist = false;
        for action in actions {
            match action {
                Action::Restart { daemon } => self.restart(daemon),
                Action::Persist => persist = true,
                Action::RefreshInventory => self.refresh.notify_one(),
                Action::ReleaseLease { daemon } => self.release_lease(daemon),
                Action::HoldService { daemon, reason } => self.hold_service(daemon, reason),
                Action::LiftServiceHold { daemon } => self.lift_service_hold(daemon),
                Action::ConfigProblem { daemon, message } => match message {
                    Some(message) => tracing::error!(
                        daemon = %daemon,
                        "configuration error (nothing is drained or restarted for it): {message}"
                    ),
                    None => tracing::info!(daemon = %daemon, "the configuration error is gone"),
                },
                Action::Event(event) => {
                    tracing::info!(
                        daemon = %event.daemon,
                        from = %event.from,
                        to = %event.to,
                        word = %event.word,
                        reason = %event.reason,
                        "transition"
                    );
                    let verified = matches!(event.from, State::Recovering | State::Restarting)
                        && matches!(event.to, State::Healthy | State::Busy | State::Draining);
                    if verified {
                        self.metrics
                            .restart(&event.daemon, RestartOutcome::verified);
                    }
                    self.events.push(event, wall_now());
                }
            }
        }
        if persist {
            self.persist();
        }
    }

    fn restart(&self, name: String) {
        let Some(daemon) = self.known.get(&name).cloned() else {
            let _ = self.observations.try_send(Observation::RestartAnswered {
                daemon: name,
                result: Err("not in the inventory".into()),
            });
            return;
        };
        let orchestrator = Arc::clone(&self.orchestrator);
        let observations = self.observations.clone();
        let metrics = Arc::clone(&self.metrics);
        let events = Arc::clone(&self.events);
        let leases = Arc::clone(&self.leases);
        let lease = self.cfg.lease.clone();
        let service = daemon
            .service_name
            .clone()
            .unwrap_or_else(|| daemon.daemon_type.clone());
        // The lease outlives the restart it covers by a margin, and expires by itself.
        let duration =
            self.cfg.policy(&daemon.daemon_type).restart_timeout + Duration::from_secs(30);
        let cookie = lease_cookie(&self.host);
        let description = format!("ceph-warden on {} restarting {name}", self.host);
        self.tracker.spawn(async move {
            if let Some(lease) = lease {
                // A canary restart that did not help holds every restart of the service.
                if let Ok(Some(why)) = lease.held_because(&service).await {
                    let reason = format!("every restart of {service} holds: {why}");
                    tracing::debug!(daemon = %name, "restart deferred: {reason}");
                    let _ = observations
                        .send(Observation::RestartDeferred {
                            daemon: name,
                            reason,
                            rados_unreachable: false,
                        })
                        .await;
                    return;
                }
                match lease
                    .acquire(&service, &cookie, &description, duration)
                    .await
                {
                    Ok(held) => {
                        let reason = format!(
                            "took the restart lease {}/{} ({cookie})",
                            held.object, held.slot
                        );
                        tracing::info!(daemon = %name, "{reason}");
                        events.push(lease_event(&name, reason), wall_now());
                        if let Ok(mut map) = leases.lock() {
                            map.insert(name.clone(), held);
                        }
                    }
                    Err(err) => {
                        // The machine says it once, as an event; each retry is a debug line.
                        tracing::debug!(daemon = %name, "restart deferred: {err}");
                        let _ = observations
                            .send(Observation::RestartDeferred {
                                daemon: name,
                                reason: err.to_string(),
                                rados_unreachable: err.rados_unreachable(),
                            })
                            .await;
                        return;
                    }
                }
            }
            tracing::info!(daemon = %name, "asking the orchestrator for a restart");
            metrics.restart(&name, RestartOutcome::requested);
            let result = orchestrator.restart(&daemon).await.map_err(|err| {
                metrics.restart(&name, RestartOutcome::failed);
                tracing::warn!(daemon = %name, "restart failed: {err}");
                err.to_string()
            });
            let _ = observations
                .send(Observation::RestartAnswered {
                    daemon: name,
                    result,
                })
                .await;
        });
    }

    /// The service of a known daemon (its cephadm service name, else its type).
    fn service_of(&self, name: &str) -> Option<(String, Duration)> {
        let daemon = self.known.get(name)?;
        Some((
            daemon
                .service_name
                .clone()
                .unwrap_or_else(|| daemon.daemon_type.clone()),
            self.cfg.policy(&daemon.daemon_type).restart_window,
        ))
    }

    /// A canary restart did not help: hold every restart of the service, on every host, for
    /// the restart window (or until the operator resets the canary).
    fn hold_service(&self, name: String, reason: String) {
        let (Some((service, window)), Some(lease)) =
            (self.service_of(&name), self.cfg.lease.clone())
        else {
            self.release_lease(name);
            return;
        };
        let description = format!(
            "{name} on {} at {}: {reason}",
            self.host,
            humantime::format_rfc3339_seconds(wall_now())
        );
        let cookie = lease_cookie(&self.host);
        let events = Arc::clone(&self.events);
        let slot = self.take_lease(&name);
        self.tracker.spawn(async move {
            match lease.hold(&service, &cookie, &description, window).await {
                Ok(()) => {
                    let said = format!("every restart of {service} holds: {description}");
                    tracing::warn!(daemon = %name, "{said}");
                    events.push(lease_event(&name, said), wall_now());
                }
                Err(err) => {
                    tracing::error!(daemon = %name, "cannot hold the restarts of {service}: {err}")
                }
            }
            if let Some(held) = slot {
                release(&lease, &name, &held, &events).await;
            }
        });
    }

    fn lift_service_hold(&self, name: String) {
        let (Some((service, _)), Some(lease)) = (self.service_of(&name), self.cfg.lease.clone())
        else {
            return;
        };
        let events = Arc::clone(&self.events);
        self.tracker.spawn(async move {
            match lease.lift_hold(&service).await {
                Ok(()) => {
                    let said = format!("lifted the hold on the restarts of {service}");
                    tracing::info!(daemon = %name, "{said}");
                    events.push(lease_event(&name, said), wall_now());
                }
                Err(err) => tracing::error!(daemon = %name, "cannot lift the hold on {service} (it expires by itself): {err}"),
            }
        });
    }

    /// The restart lease this daemon holds, taken out of the map (whoever takes it releases it).
    fn take_lease(&self, name: &str) -> Option<crate::lease::Held> {
        self.leases.lock().ok().and_then(|mut map| map.remove(name))
    }

    fn release_lease(&self, name: String) {
        let (Some(held), Some(lease)) = (self.take_lease(&name), self.cfg.lease.clone()) else {
            return;
        };
        let events = Arc::clone(&self.events);
        self.tracker
            .spawn(async move { release(&lease, &name, &held, &events).await });
    }

    fn persist(&self) {
        let saved = self.machine.persisted(now());
        if let Err(err) = statefile::save(
            &self.state_path,
            &saved,
            self.last_inventory_json.as_deref(),
            wall_now(),
        ) {
            tracing::error!(
                "cannot write the state file {}: {err}",
                self.state_path.display()
            );
        }
    }

    fn inventory_update(&mut self, update: InventoryUpdate) {
        match update.result {
            Ok((daemons, json)) => {
                self.inventory.last_error = None;
                if let Some(peers) = update.peers {
                    self.peer_daemons = peers;
                }
                self.apply_inventory(daemons, json, false);
            }
            Err(err) => {
                // Once per distinct error: /status shows it for as long as it lasts.
                if self.inventory.last_error.as_ref() != Some(&err) {
                    tracing::warn!(
                        "inventory refresh failed, the last good inventory stays in force: {err}"
                    );
                }
                self.inventory.last_error = Some(err);
            }
        }
    }

    fn apply_inventory(
        &mut self,
        daemons: Vec<Daemon>,
        json: Option<String>,
        from_state_file: bool,
    ) {
        let wall = wall_now();
        let peer_candidates: Vec<Daemon> = match &self.cfg.run.inventory {
            InventorySource::Static(_) => Vec::new(),
            InventorySource::CephOrch => {
                let mut all: Vec<Daemon> = daemons.clone();
                for peer in &self.peer_daemons {
                    if !all.iter().any(|d| d.name == peer.name) {
                        all.push(peer.clone());
                    }
                }
                all
            }
        };
        let mut targets = Vec::new();
        let mut discovered = Vec::new();
        let mut known = BTreeMap::new();
        for daemon in daemons
            .into_iter()
            .filter(|d| self.cfg.run.types.contains(&d.daemon_type))
        {
            let url = match &self.cfg.run.inventory {
                InventorySource::Static(list) => list
                    .iter()
                    .find(|s| s.name == daemon.name)
                    .map(|s| s.url.clone()),
                InventorySource::CephOrch => daemon
                    .http_url(self.cfg.http_path(&daemon.daemon_type))
                    .ok(),
            };
            let Some(url) = url else {
                tracing::warn!(daemon = %daemon.name, "no address or port in the inventory; not watched");
                continue;
            };
            discovered.push(Discovered {
                name: daemon.name.clone(),
                daemon_type: daemon.daemon_type.clone(),
                started_ago: daemon.started.and_then(|s| wall.duration_since(s).ok()),
                service: daemon
                    .service_name
                    .clone()
                    .unwrap_or_else(|| daemon.daemon_type.clone()),
                stale: from_state_file,
            });
            targets.push(Target {
                name: daemon.name.clone(),
                url,
                chain: self.cfg.probes(&daemon.daemon_type),
                asok: self.cfg.asok(&daemon.daemon_type),
                peers: self.peers_of(&daemon, &peer_candidates),
            });
            known.insert(daemon.name.clone(), daemon);
        }
        self.inventory.daemons = known.len();
        self.inventory.last_ok = Some(now());
        self.inventory.from_state_file = from_state_file;
        self.known.extend(known);
        // A daemon stays known (restartable) until the machine forgets it.
        let actions = self
            .machine
            .observe(Observation::Inventory(discovered), now());
        self.execute(actions);
        let tracked: Vec<String> = self
            .machine
            .snapshot()
            .daemons
            .iter()
            .map(|d| d.name.clone())
            .collect();
        self.known.retain(|name, _| tracked.contains(name));
        // Keep probing every tracked daemon, also one missing from this one inventory.
        let mut all_targets: Vec<Target> = self
            .targets
            .borrow()
            .iter()
            .filter(|t| tracked.contains(&t.name) && !targets.iter().any(|n| n.name == t.name))
            .cloned()
            .collect();
        all_targets.extend(targets);
        self.targets.send_replace(Arc::new(all_targets));
        if json.is_some() && json != self.last_inventory_json {
            self.last_inventory_json = json;
            if !from_state_file {
                self.persist();
            }
        }
    }

    /// The other daemons of `daemon`'s service (same type, same service name) that have an
    /// address, for a load-balanced type.
    fn peers_of(&self, daemon: &Daemon, candidates: &[Daemon]) -> Vec<Peer> {
        if !self.cfg.policy(&daemon.daemon_type).load_balanced {
            return Vec::new();
        }
        let path = self.cfg.http_path(&daemon.daemon_type);
        let mut peers: Vec<Peer> = candidates
            .iter()
            .filter(|c| {
                c.name != daemon.name
                    && c.daemon_type == daemon.daemon_type
                    && c.service_name == daemon.service_name
            })
            .filter_map(|c| {
                Some(Peer {
                    name: c.name.clone(),
                    url: c.http_url(path).ok()?,
                })
            })
            .collect();
        peers.sort();
        peers
    }

    fn reload(&mut self) {
        let Some(path) = self.config_path.clone() else {
            tracing::warn!("SIGHUP: no --config file to reload; the built-in defaults stay");
            return;
        };
        match Config::load(Some(&path)) {
            Err(err) => {
                tracing::error!("SIGHUP: the new config is rejected, the old one stays: {err}")
            }
            Ok(new) => {
                if new.run.agent_listen != self.cfg.run.agent_listen
                    || new.run.http_listen != self.cfg.run.http_listen
                {
                    tracing::warn!(
                        "SIGHUP: listen addresses change only with a restart of the sidecar"
                    );
                }
                let (policies, default_policy) = policies(&new);
                self.machine.set_policies(policies, default_policy);
                self.machine
                    .set_max_concurrent_restarts(new.lease.as_ref().map_or(1, |lease| lease.slots));
                self.probe_settings.send_replace(probe_settings(&new));
                self.config.send_replace(Arc::new(new.clone()));
                self.orchestrator = Arc::new(Chain::from_config(&new.run.orchestrators, &new.ceph));
                self.cfg = Config {
                    run: crate::config::RunConfig {
                        agent_listen: self.cfg.run.agent_listen,
                        http_listen: self.cfg.run.http_listen,
                        ..new.run.clone()
                    },
                    ..new
                };
                self.refresh.notify_one();
                tracing::info!("SIGHUP: configuration reloaded from {}", path.display());
            }
        }
    }

    fn health_gate(&self) -> crate::status::HealthGateStatus {
        let health = self.health.borrow();
        crate::status::HealthGateStatus {
            checks: self.cfg.run.health_gate.clone(),
            finding: health.current(),
            error: health.error.clone(),
        }
    }

    fn publish(&self) {
        let view = View {
            snapshot: self.machine.snapshot(),
            at: now(),
            wall: wall_now(),
            host: self.host.clone(),
            inventory: self.inventory.clone(),
            health_gate: self.health_gate(),
        };
        self.view.send_replace(Arc::new(view));
    }
}

/// While a planned restart waits for in-flight requests, counts them every 200 ms: the
/// established connections to the daemon's port (see [`crate::probe::connections`]).
async fn in_flight_loop(
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
            .filter(|d| d.planned_restart && d.state == State::Draining)
            .map(|d| d.name.clone())
            .collect();
        for name in waiting {
            let port = targets
                .borrow()
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| reqwest::Url::parse(&t.url).ok()?.port_or_known_default());
            let Some(active) = port.and_then(crate::probe::connections::established) else {
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

/// systemd's `WatchdogSec=`, from `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or ours (as
/// libsystemd's `sd_watchdog_enabled` reads them).
fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let ours = std::env::var("WATCHDOG_PID")
        .ok()
        .is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    (ours && usec > 0).then(|| Duration::from_micros(usec).max(Duration::from_millis(20)))
}

/// `<host>:<pid>:<nanoseconds>`: unique per restart, readable in `rados lock info`.
fn lease_cookie(host: &str) -> String {
    let nanos = wall_now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{host}:{}:{nanos}", std::process::id())
}

/// Gives the restart lease back, saying so in the events (or that it expires by itself).
async fn release(
    lease: &crate::lease::LeaseSettings,
    name: &str,
    held: &crate::lease::Held,
    events: &EventLog,
) {
    match lease.release(held).await {
        Ok(()) => {
            let reason = format!("gave back the restart lease {}/{}", held.object, held.slot);
            tracing::info!(daemon = %name, "{reason}");
            events.push(lease_event(name, reason), wall_now());
        }
        Err(err) => {
            tracing::warn!(daemon = %name, "the restart lease could not be given back (it expires by itself): {err}")
        }
    }
}

/// A lease taken or given back, for `/events` (not a state change: from = to).
fn lease_event(daemon: &str, reason: String) -> crate::machine::Event {
    crate::machine::Event {
        daemon: daemon.to_string(),
        from: State::Restarting,
        to: State::Restarting,
        word: String::new(),
        reason,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Refreshes the inventory every interval, and at once when asked: after a restart, with
/// `--refresh` (cephadm caches its inventory; the restarted daemon has a new start time).
async fn inventory_loop(
    config: watch::Receiver<Arc<Config>>,
    host: String,
    updates: mpsc::Sender<InventoryUpdate>,
    refresh: Arc<Notify>,
    token: CancellationToken,
) {
    let mut force = false;
    loop {
        let cfg = Arc::clone(&config.borrow());
        let result = match &cfg.run.inventory {
            InventorySource::Static(list) => Ok((
                list.iter()
                    .map(|s| Daemon {
                        name: s.name.clone(),
                        daemon_type: s.daemon_type.clone(),
                        hostname: Some(host.clone()),
                        ip: None,
                        ports: Vec::new(),
                        status: inventory::OrchStatus::Unknown,
                        status_desc: None,
                        service_name: None,
                        started: None,
                    })
                    .collect(),
                None,
            )),
            InventorySource::CephOrch => {
                let mut command = vec!["orch", "ps", host.as_str(), "--format", "json"];
                if force {
                    command.push("--refresh");
                }
                match cfg.ceph.run(&command).await {
                    Ok(stdout) => inventory::parse(&stdout)
                        .map(|daemons| (daemons, Some(stdout)))
                        .map_err(|err| err.to_string()),
                    Err(err) => Err(err.to_string()),
                }
            }
        };
        // The peers of the load-balanced types, on every host (not refreshed: cephadm's cache
        // is recent enough to know who the peers are).
        let peers = match (&cfg.run.inventory, &result) {
            (InventorySource::CephOrch, Ok(_)) => peer_inventory(&cfg).await,
            _ => None,
        };
        if updates
            .send(InventoryUpdate { result, peers })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(cfg.run.inventory_interval) => force = false,
            () = refresh.notified() => force = true,
        }
    }
}

/// `ceph orch ps --daemon_type T` for every watched load-balanced type; `None` when a call
/// fails (the last peers stay).
async fn peer_inventory(cfg: &Config) -> Option<Vec<Daemon>> {
    let mut all = Vec::new();
    for daemon_type in &cfg.run.types {
        if !cfg.policy(daemon_type).load_balanced {
            continue;
        }
        let listed = cfg
            .ceph
            .run(&[
                "orch",
                "ps",
                "--daemon_type",
                daemon_type,
                "--format",
                "json",
            ])
            .await
            .map_err(|err| err.to_string())
            .and_then(|json| inventory::parse(&json).map_err(|err| err.to_string()));
        match listed {
            Ok(daemons) => all.extend(daemons),
            Err(err) => {
                tracing::warn!("cannot list the peers ({daemon_type} on every host); the last list stays: {err}");
                return None;
            }
        }
    }
    Some(all)
}

/// Starts a probe of every target every interval; a probe may overlap the next one (each has
/// its own deadline), up to the number that fit in one timeout.
#[expect(
    clippy::too_many_arguments,
    reason = "the probe loop's inputs, each its own channel"
)]
async fn probe_loop(
    view: watch::Receiver<Arc<View>>,
    targets: watch::Receiver<Arc<Vec<Target>>>,
    mut settings: watch::Receiver<ProbeSettings>,
    health: watch::Receiver<HealthFinding>,
    observations: mpsc::Sender<Observation>,
    metrics: Arc<Metrics>,
    token: CancellationToken,
    tracker: TaskTracker,
) {
    let running: Arc<std::sync::Mutex<BTreeMap<String, Arc<AtomicUsize>>>> = Arc::default();
    let peer_cache = Arc::new(crate::peers::Cache::default());
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
            let Some(prober) = current.prober.clone() else {
                tracing::error!("no HTTP client: probes cannot run");
                continue;
            };
            let max_overlap =
                1 + usize::try_from(prober_timeout_ticks(&prober, current.interval)).unwrap_or(1);
            tick = tick.wrapping_add(1);
            let list = Arc::clone(&targets.borrow());
            let degraded: Vec<String> = view
                .borrow()
                .snapshot
                .daemons
                .iter()
                .filter(|d| d.state == State::Degraded)
                .map(|d| d.name.clone())
                .collect();
            for target in list.iter() {
                // A probe of a stalled RGW only adds to its queue: 1 in 5 while degraded.
                if degraded.contains(&target.name) && tick % 5 != 0 {
                    continue;
                }
                let counter = match running.lock() {
                    Ok(mut map) => Arc::clone(map.entry(target.name.clone()).or_default()),
                    Err(_) => continue,
                };
                if counter.load(Ordering::Relaxed) >= max_overlap {
                    continue;
                }
                counter.fetch_add(1, Ordering::Relaxed);
                let prober = prober.clone();
                let s3 = current.s3.clone();
                let target = target.clone();
                let observations = observations.clone();
                let metrics = Arc::clone(&metrics);
                let peer_cache = Arc::clone(&peer_cache);
                let health = health.borrow().current();
                tracker.spawn(async move {
                    let sent = now();
                    let start = tokio::time::Instant::now();
                    let context = ChainContext {
                        peers: &peer_cache,
                        health,
                    };
                    let outcome = run_chain(&target, &prober, s3.as_ref(), &context).await;
                    let took = start.elapsed();
                    counter.fetch_sub(1, Ordering::Relaxed);
                    metrics.probe(&target.name, ProbeClass::of(&outcome.result), took);
                    tracing::debug!(
                        daemon = %target.name,
                        step = %outcome.step,
                        result = %probe::describe(&outcome.result),
                        ?took,
                        "probe"
                    );
                    let _ = observations
                        .send(Observation::Probe {
                            daemon: target.name,
                            result: outcome.result,
                            sent,
                            step: outcome.step,
                            config_problem: outcome.config_problem,
                            no_healthy_peer: outcome.no_healthy_peer,
                        })
                        .await;
                });
            }
        }
    }
}

/// The health gate's last finding and how long it may be believed.
#[derive(Debug, Clone)]
struct HealthFinding {
    finding: Option<String>,
    valid_until: tokio::time::Instant,
    /// The last read failed (no `ceph.conf`, no caps, a hang): the gate is not running.
    error: Option<String>,
}

impl HealthFinding {
    fn none() -> Self {
        Self {
            finding: None,
            valid_until: tokio::time::Instant::now(),
            error: None,
        }
    }

    /// The finding, unless it is too old to count (then: no caution).
    fn current(&self) -> Option<String> {
        self.finding
            .clone()
            .filter(|_| tokio::time::Instant::now() < self.valid_until)
    }
}

/// Reads `ceph health detail` every `run.health-interval` (bounded by the ceph timeout) and
/// publishes which gating checks are raised. Probes read the last finding and never wait for
/// it; a finding is believed for three intervals, and a failed read changes nothing.
async fn health_loop(
    config: watch::Receiver<Arc<Config>>,
    findings: watch::Sender<HealthFinding>,
    token: CancellationToken,
) {
    let mut last_error: Option<String> = None;
    loop {
        let cfg = Arc::clone(&config.borrow());
        if cfg.run.health_gate.is_empty() {
            findings.send_replace(HealthFinding::none());
        } else {
            let read = cfg
                .ceph
                .run(&["health", "detail", "--format", "json"])
                .await
                .map_err(|err| err.to_string())
                .and_then(|json| crate::health::gate(&json, &cfg.run.health_gate));
            match read {
                Ok(finding) => {
                    if last_error.take().is_some() {
                        tracing::info!("ceph health detail answers again");
                    }
                    let previous = findings.borrow().finding.clone();
                    if finding != previous {
                        match &finding {
                            Some(f) => tracing::warn!(
                                "health gate: {f}; probe timeouts are degraded, not failures"
                            ),
                            None => tracing::info!("health gate: clear"),
                        }
                    }
                    findings.send_replace(HealthFinding {
                        finding,
                        valid_until: tokio::time::Instant::now() + cfg.run.health_interval * 3,
                        error: None,
                    });
                }
                Err(err) => {
                    if last_error.as_ref() != Some(&err) {
                        tracing::warn!("health gate: cannot read ceph health detail: {err}");
                    }
                    findings.send_modify(|f| {
                        f.error = Some(format!("cannot read ceph health detail: {err}"))
                    });
                    last_error = Some(err);
                }
            }
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(cfg.run.health_interval) => {}
        }
    }
}

fn prober_timeout_ticks(prober: &HttpProbe, interval: Duration) -> u64 {
    let timeout = prober.timeout().as_millis();
    let interval = interval.as_millis().max(1);
    u64::try_from(timeout.div_ceil(interval)).unwrap_or(1)
}
