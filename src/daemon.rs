//! The shell of `ceph-warden run`: owns the runtime pieces around the pure [`Machine`].
//!
//! It refreshes the inventory, runs the probes on timers, feeds every result into the machine,
//! carries out the [`Action`]s it returns (restart through the orchestrator chain, persist the
//! state file, refresh the inventory, log and keep events), and publishes a fresh [`View`] after
//! every change for the agent, the HTTP API and the metrics. It is the only place that reads
//! the clock. One [`CancellationToken`] and one [`TaskTracker`] make the one shutdown path:
//! signal → STOPPING=1 → stop accepting → cancel → wait (bounded) → persist → exit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, InventorySource};
use crate::exitcode;
use crate::http::{Api, CommandRequest};
use crate::inventory::{self, Daemon};
use crate::machine::{Action, Discovered, Machine, Observation, Policy, State};
use crate::metrics::{Metrics, RestartOutcome};
use crate::orchestrate::Chain;
use crate::peers::Peer;
use crate::statefile;
use crate::status::{EventLog, InventoryStatus, View};

mod health_gate;
mod inventory_refresh;
mod leases;
mod probing;
#[cfg(test)]
mod tests;
mod world;

use health_gate::{health_loop, HealthFinding};
use inventory_refresh::{inventory_loop, InventoryUpdate};
use probing::{in_flight_loop, probe_loop, probe_settings, ProbeSettings, Target};
use world::{RealWorld, World};

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

/// Why `run` could not start serving; each maps to a documented exit code.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("cannot write the state directory {}: {source}; drains, maintenance and restart budgets would not survive a restart (set state-directory in the config, or fix the directory's owner and mode)", .path.display())]
    StateDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl ServeError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::StateDirectory { .. } => exitcode::CANT_CREATE,
            Self::Bind { .. } => exitcode::OS_ERROR,
        }
    }
}

/// The two listeners, bound before anything else starts.
struct Listeners {
    agent: TcpListener,
    http: TcpListener,
}

/// What must hold before the sidecar may act: a state directory it can write (exit 73
/// otherwise) and both listen addresses (exit 71). Logs which configuration is in force.
async fn preflight(cfg: &Config, config_path: Option<&PathBuf>) -> Result<Listeners, ServeError> {
    match config_path {
        Some(path) => tracing::info!("configuration from {}", path.display()),
        None => tracing::warn!(
            "no configuration file (no --config, and {} does not exist): running on the built-in defaults",
            crate::config::DEFAULT_PATH
        ),
    }
    statefile::check_writable(&cfg.state_directory).map_err(|source| {
        ServeError::StateDirectory {
            path: cfg.state_directory.clone(),
            source,
        }
    })?;
    let bind = |what: &'static str, addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { what, addr, source })
    };
    Ok(Listeners {
        agent: bind("HAProxy agent checks", cfg.run.agent_listen).await?,
        http: bind("the HTTP API", cfg.run.http_listen).await?,
    })
}

/// The channels between the shell and its tasks: the shell's ends.
struct Wiring {
    observations: mpsc::Receiver<Observation>,
    commands: mpsc::Receiver<CommandRequest>,
    inventory: mpsc::Receiver<InventoryUpdate>,
}

/// `ceph-warden run`. Returns the process exit code.
pub async fn run(cfg: Config, config_path: Option<PathBuf>) -> u8 {
    // SIGHUP reloads the file the config came from, the default one included.
    let config_path = config_path.or_else(|| {
        let default = PathBuf::from(crate::config::DEFAULT_PATH);
        default.exists().then_some(default)
    });
    let listeners = match preflight(&cfg, config_path.as_ref()).await {
        Ok(listeners) => listeners,
        Err(err) => {
            eprintln!("ceph-warden: error: {err}");
            return err.exit_code();
        }
    };
    let Ok(signals) = Signals::install() else {
        eprintln!("ceph-warden: error: cannot install signal handlers");
        return exitcode::INTERNAL;
    };
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (mut shell, wiring, api, loaded_inventory) =
        Shell::start(cfg, config_path, RealWorld, &token, &tracker);
    serve_readers(listeners, api, &shell, &token, &tracker);
    // The last good inventory from the state file serves until the orchestrator answers (its
    // daemons are watched, never restarted, until a fresh inventory lists them).
    if let (InventorySource::CephOrch, Some(json)) = (&shell.cfg.run.inventory, loaded_inventory) {
        if let Ok(daemons) = inventory::parse(&json) {
            shell.apply_inventory(daemons, Some(json), true);
        }
    }
    shell.serve(wiring, Some(signals), &token, &tracker).await
}

/// The agent and the HTTP API, on the listeners `preflight` bound.
fn serve_readers<W: World>(
    listeners: Listeners,
    api: Api,
    shell: &Shell<W>,
    token: &CancellationToken,
    tracker: &TaskTracker,
) {
    let cfg = &shell.cfg;
    let (agent_addr, http_addr) = (
        listeners.agent.local_addr().unwrap_or(cfg.run.agent_listen),
        listeners.http.local_addr().unwrap_or(cfg.run.http_listen),
    );
    tracker.spawn(crate::agent::serve(
        listeners.agent,
        api.view.clone(),
        shell.observations.clone(),
        cfg.run.max_agent_connections,
        Arc::clone(&api.metrics),
        token.clone(),
        tracker.clone(),
    ));
    tracker.spawn(crate::http::serve(
        listeners.http,
        api,
        token.clone(),
        tracker.clone(),
    ));
    tracing::info!(agent = %agent_addr, http = %http_addr, host = %shell.host, "ceph-warden running");
}

/// The signals `run` answers: SIGTERM and SIGINT stop it, SIGHUP reloads the config.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

enum Received {
    Terminate,
    Interrupt,
    Hangup,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal; never, without handlers (the shell's tests must not install any: the
    /// test binary would take them).
    async fn recv(signals: Option<&mut Self>) -> Received {
        let Some(signals) = signals else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = signals.terminate.recv() => Received::Terminate,
            _ = signals.interrupt.recv() => Received::Interrupt,
            _ = signals.hangup.recv() => Received::Hangup,
        }
    }
}

/// RGWs of one service restarting at once: the lease's slots, or one without a lease.
fn max_concurrent_restarts(cfg: &Config) -> u32 {
    cfg.lease.as_ref().map_or(1, |lease| lease.slots)
}

fn policies(cfg: &Config) -> (BTreeMap<String, Policy>, Policy) {
    let mut policies = BTreeMap::new();
    for daemon_type in &cfg.run.types {
        policies.insert(daemon_type.clone(), cfg.policy(daemon_type));
    }
    (policies, cfg.policy("other"))
}

struct Shell<W: World> {
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
    /// What the shell does to the world.
    world: Arc<W>,
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
    leases: Arc<leases::LeaseBook>,
    /// The health gate's last finding, for `/status`.
    health: watch::Receiver<HealthFinding>,
    /// Daemons the inventory lists without an address or port (warned about once).
    unwatched: std::collections::BTreeSet<String>,
}

impl<W: World> Shell<W> {
    /// The machine (with what the state file kept), the channels, the published view, and
    /// the tasks that act on `world`: the inventory, probe, in-flight and health loops.
    /// Returns what the readers serve from ([`serve_readers`]) and the state file's inventory
    /// too, for [`run`] to apply.
    fn start(
        cfg: Config,
        config_path: Option<PathBuf>,
        world: W,
        token: &CancellationToken,
        tracker: &TaskTracker,
    ) -> (Self, Wiring, Api, Option<String>) {
        let world = Arc::new(world);
        let host = cfg.run.host.clone().unwrap_or_else(short_hostname);
        let state_path = statefile::path_in(&cfg.state_directory);
        let loaded = statefile::load(&state_path, wall_now());
        if let Some(warning) = &loaded.warning {
            tracing::warn!("{warning}");
        }
        let (policies, default_policy) = policies(&cfg);
        let mut machine = Machine::new(policies, default_policy, loaded.daemons);
        machine.set_max_concurrent_restarts(max_concurrent_restarts(&cfg));
        let (observations_tx, observations) = mpsc::channel::<Observation>(4096);
        let (commands_tx, commands) = mpsc::channel::<CommandRequest>(64);
        let (inventory_tx, inventory) = mpsc::channel::<InventoryUpdate>(4);
        let (targets_tx, targets_rx) = watch::channel::<Arc<Vec<Target>>>(Arc::new(Vec::new()));
        let (probe_tx, probe_rx) = watch::channel(probe_settings(&cfg));
        let inventory_status = InventoryStatus {
            source: match &cfg.run.inventory {
                InventorySource::CephOrch => "ceph-orch",
                InventorySource::Static(_) => "static",
            }
            .to_string(),
            ..InventoryStatus::default()
        };
        let view = View {
            snapshot: machine.snapshot(),
            at: now(),
            wall: wall_now(),
            host: host.clone(),
            config_file: config_path.clone(),
            inventory: inventory_status.clone(),
            health_gate: crate::status::HealthGateStatus::default(),
        };
        let (view_tx, view_rx) = watch::channel(Arc::new(view));
        let events = Arc::new(EventLog::default());
        let metrics = Arc::new(Metrics::new());
        let refresh = Arc::new(Notify::new());
        let api = Api {
            view: view_rx.clone(),
            events: Arc::clone(&events),
            metrics: Arc::clone(&metrics),
            commands: commands_tx,
        };
        let (config_tx, config_rx) = watch::channel(Arc::new(cfg.clone()));
        tracker.spawn(inventory_loop(
            Arc::clone(&world),
            config_rx.clone(),
            host.clone(),
            inventory_tx,
            Arc::clone(&refresh),
            token.clone(),
        ));
        tracker.spawn(in_flight_loop(
            Arc::clone(&world),
            view_rx.clone(),
            targets_rx.clone(),
            observations_tx.clone(),
            token.clone(),
        ));
        let (health_tx, health_rx) = watch::channel(HealthFinding::none());
        tracker.spawn(health_loop(
            Arc::clone(&world),
            config_rx,
            health_tx,
            token.clone(),
        ));
        tracker.spawn(probe_loop(
            Arc::clone(&world),
            view_rx,
            targets_rx,
            probe_rx,
            health_rx.clone(),
            observations_tx.clone(),
            Arc::clone(&metrics),
            token.clone(),
            tracker.clone(),
        ));
        let orchestrator = Arc::new(Chain::from_config(&cfg.run.orchestrators, &cfg.ceph));
        let shell = Self {
            cfg,
            config_path,
            host,
            machine,
            known: BTreeMap::new(),
            inventory: inventory_status,
            last_inventory_json: None,
            peer_daemons: Vec::new(),
            state_path,
            orchestrator,
            world,
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
            unwatched: std::collections::BTreeSet::new(),
        };
        let wiring = Wiring {
            observations,
            commands,
            inventory,
        };
        (shell, wiring, api, loaded.inventory)
    }

    /// Serves until a signal or `token` stops it, then the one shutdown path: STOPPING=1 →
    /// cancel → wait for the tasks (at most `shutdown-timeout`) → persist. Returns the exit
    /// code.
    async fn serve(
        mut self,
        wiring: Wiring,
        mut signals: Option<Signals>,
        token: &CancellationToken,
        tracker: &TaskTracker,
    ) -> u8 {
        self.publish();
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        let code = self.main_loop(wiring, signals.as_mut(), token).await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        token.cancel();
        tracker.close();
        if tokio::time::timeout(self.cfg.run.shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "some tasks did not finish within {:?}; exiting anyway",
                self.cfg.run.shutdown_timeout
            );
        }
        self.persist();
        tracing::info!("ceph-warden stopped");
        code
    }

    async fn main_loop(
        &mut self,
        wiring: Wiring,
        mut signals: Option<&mut Signals>,
        token: &CancellationToken,
    ) -> u8 {
        let Wiring {
            mut observations,
            mut commands,
            mut inventory,
        } = wiring;
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
                received = Signals::recv(signals.as_deref_mut()) => match received {
                    Received::Terminate => { tracing::info!("SIGTERM: shutting down"); return exitcode::OK; }
                    Received::Interrupt => { tracing::info!("SIGINT: shutting down"); return exitcode::OK; }
                    Received::Hangup => self.reload(),
                },
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
            Ok(listing) => {
                self.inventory.last_error = None;
                if let Some(peers) = update.peers {
                    self.peer_daemons = peers;
                }
                self.apply_inventory(listing.daemons, listing.json, false);
            }
            Err(err) => {
                let err = err.to_string();
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
                // Once per daemon, not at every refresh.
                if self.unwatched.insert(daemon.name.clone()) {
                    tracing::warn!(daemon = %daemon.name, "no address or port in the inventory; not watched");
                }
                continue;
            };
            self.unwatched.remove(&daemon.name);
            discovered.push(Discovered {
                name: daemon.name.clone(),
                daemon_type: daemon.daemon_type.clone(),
                started_ago: daemon.started.and_then(|s| wall.duration_since(s).ok()),
                service: daemon.service(),
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
                    .set_max_concurrent_restarts(max_concurrent_restarts(&new));
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
            config_file: self.config_path.clone(),
            inventory: self.inventory.clone(),
            health_gate: self.health_gate(),
        };
        self.view.send_replace(Arc::new(view));
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
