//! The shell of `run`: owns the runtime pieces around the pure [`Machine`].
//!
//! It refreshes the inventory, runs the probes on timers, feeds every result into the machine,
//! carries out the [`Action`]s it returns (restart through the orchestrator chain, persist the
//! state file, refresh the inventory, log and keep events), and publishes a fresh [`View`] after
//! every change for the agent, the HTTP API and the metrics. It is the only place that reads
//! the clock. One [`CancellationToken`] and one [`TaskTracker`] make the one shutdown path:
//! signal → STOPPING=1 → stop accepting → cancel → wait (bounded) → persist → exit.
//!
//! Its parts, by noun: `listeners` (preflight, agent and API), `signals` (and the watchdog),
//! `loops` (the tasks and their channels), `inventory_refresh`, `probing`, `health_gate`,
//! `leases` (the restart path), and `world` (every side effect, behind one trait).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, InventorySource};
use crate::exitcode;
use crate::http::{Api, CommandRequest};
use crate::inventory;
use crate::machine::{Action, Event, Machine, Policy};
use crate::metrics::{Metrics, RestartOutcome};
use crate::orchestrate::kill::Killer;
use crate::orchestrate::Chain;
use crate::statefile;
use crate::status::{EventLog, HealthGateStatus, View};

mod health_gate;
mod inventory_refresh;
mod leases;
mod listeners;
mod loops;
mod probing;
mod signals;
#[cfg(test)]
mod tests;
mod world;

use inventory_refresh::Inventory;
use leases::Restarts;
use listeners::Listeners;
use loops::{Loops, Wiring};
use probing::probe_settings;
use signals::{Received, Signals, Watchdog};
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

/// `ceph-warden run`. Returns the process exit code.
pub async fn run(cfg: Config, config_path: Option<PathBuf>) -> u8 {
    // SIGHUP reloads the file the config came from, the default one included.
    let config_path = config_path.or_else(|| {
        let default = PathBuf::from(crate::config::DEFAULT_PATH);
        default.exists().then_some(default)
    });
    let listeners = match Listeners::preflight(&cfg, config_path.as_deref()).await {
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
    let (mut shell, wiring, api, saved_inventory) =
        Shell::start(cfg, config_path, RealWorld, &token, &tracker);
    let polls = shell.loops.observations.clone();
    listeners.serve(&shell.cfg, &shell.host, api, polls, &token, &tracker);
    // The last good inventory from the state file serves until the orchestrator answers (its
    // daemons are watched, never restarted, until a fresh inventory lists them).
    if let (InventorySource::CephOrch, Some(json)) =
        (&shell.cfg.run.inventory.source, saved_inventory)
    {
        if let Ok(daemons) = inventory::parse(&json) {
            shell.apply_inventory(daemons, Some(json), true);
        }
    }
    shell.serve(wiring, Some(signals), &token, &tracker).await
}

/// RGWs of one service restarting at once: the lease's slots, or one without a lease.
/// The learned probe deadlines' floor and ceilings, from the config.
fn deadline_bounds(cfg: &Config) -> crate::machine::Bounds {
    crate::machine::Bounds {
        floor: cfg.run.probe.timeout_floor,
        ceiling: cfg.run.probe.timeout,
        s3_ceiling: cfg
            .s3
            .as_ref()
            .map_or(cfg.run.probe.timeout, |s3| s3.timeout),
    }
}

fn max_concurrent_restarts(cfg: &Config) -> u32 {
    cfg.lease.as_ref().map_or(1, |lease| lease.slots)
}

fn policies(cfg: &Config) -> (BTreeMap<String, Policy>, Policy) {
    let policy = |daemon_type: &str| Policy {
        kill_hung: cfg.run.kill_hung.is_some(),
        ..cfg.policy(daemon_type)
    };
    let mut policies = BTreeMap::new();
    for daemon_type in &cfg.run.types {
        policies.insert(daemon_type.clone(), policy(daemon_type));
    }
    (policies, policy("other"))
}

/// `run.kill-hung`'s way to kill a hung daemon, if on.
fn killer(cfg: &Config) -> Option<Arc<Killer>> {
    let how = cfg.run.kill_hung.clone()?;
    Some(Arc::new(Killer::new(how, cfg.ceph.timeout)))
}

/// The machine, with what the state file kept, and the inventory it kept.
fn restore(cfg: &Config, state_path: &std::path::Path) -> (Machine, Option<String>) {
    let loaded = statefile::load(state_path, wall_now());
    if let Some(warning) = &loaded.warning {
        tracing::warn!("{warning}");
    }
    let (policies, default_policy) = policies(cfg);
    let mut machine = Machine::new(policies, default_policy, loaded.daemons);
    machine.set_max_concurrent_restarts(max_concurrent_restarts(cfg));
    machine.set_deadline_bounds(deadline_bounds(cfg));
    machine.set_load_drain_percent(cfg.run.max_load_drain_percent);
    (machine, loaded.inventory)
}

/// What the readers (the agent, the HTTP API, the metrics) are shown.
struct Published {
    view: watch::Sender<Arc<View>>,
    events: Arc<EventLog>,
    metrics: Arc<Metrics>,
}

/// The shell: the config in force, the machine, and the parts it drives, each a small struct.
struct Shell<W: World> {
    cfg: Config,
    config_path: Option<PathBuf>,
    host: String,
    machine: Machine,
    state_path: PathBuf,
    inventory: Inventory,
    restarts: Restarts<W>,
    published: Published,
    loops: Loops,
}

impl<W: World> Shell<W> {
    /// The machine (with what the state file kept), the published view, and the loops that
    /// act on `world`. Returns what the readers serve from too, and the state file's
    /// inventory, for [`run`] to apply.
    fn start(
        cfg: Config,
        config_path: Option<PathBuf>,
        world: W,
        token: &CancellationToken,
        tracker: &TaskTracker,
    ) -> (Self, Wiring, Api, Option<String>) {
        let host = cfg.run.host.clone().unwrap_or_else(short_hostname);
        let state_path = statefile::path_in(&cfg.state_directory);
        let (machine, saved_inventory) = restore(&cfg, &state_path);
        let inventory = Inventory::new(&cfg.run.inventory.source);
        let view = View {
            snapshot: machine.snapshot(),
            at: now(),
            wall: wall_now(),
            host: host.clone(),
            config_file: config_path.clone(),
            inventory: inventory.status.clone(),
            health_gate: HealthGateStatus::default(),
        };
        let published = Published {
            view: watch::Sender::new(Arc::new(view)),
            events: Arc::default(),
            metrics: Arc::new(Metrics::new()),
        };
        let world = Arc::new(world);
        let (loops, wiring, commands) =
            Loops::spawn(&cfg, &host, &world, &published, token, tracker);
        let api = Api {
            view: published.view.subscribe(),
            events: Arc::clone(&published.events),
            metrics: Arc::clone(&published.metrics),
            commands,
        };
        let restarts = Restarts {
            world,
            orchestrator: Arc::new(Chain::from_config(&cfg.run.orchestrators, &cfg.ceph)),
            killer: killer(&cfg),
            book: Arc::default(),
            events: Arc::clone(&published.events),
            metrics: Arc::clone(&published.metrics),
            observations: loops.observations.clone(),
            taken_by: Arc::default(),
        };
        let shell = Self {
            cfg,
            config_path,
            host,
            machine,
            state_path,
            inventory,
            restarts,
            published,
            loops,
        };
        (shell, wiring, api, saved_inventory)
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
        let mut watchdog = Watchdog::from_env();
        loop {
            let deadline = self.machine.next_deadline();
            tokio::select! {
                Some(observation) = observations.recv() => {
                    let actions = self.machine.observe(observation, now());
                    self.execute(actions);
                }
                Some(request) = commands.recv() => self.command(request),
                Some(update) = inventory.recv() => self.inventory_update(update),
                () = sleep_until(deadline) => {
                    let actions = self.machine.tick(now());
                    self.execute(actions);
                }
                () = watchdog.tick() => Watchdog::ping(),
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

    /// An operator's command (HTTP API): the machine's answer goes back to the handler.
    fn command(&mut self, request: CommandRequest) {
        let reply = self
            .machine
            .command(&request.daemon, request.command, now())
            .map(|actions| {
                tracing::info!(daemon = %request.daemon, command = ?request.command, "operator command");
                self.execute(actions);
            });
        self.publish();
        let _ = request.reply.send(reply);
    }

    fn execute(&mut self, actions: Vec<Action>) {
        let mut persist = false;
        for action in actions {
            match action {
                Action::Restart { daemon, fall_back } => self.restart(daemon, fall_back),
                Action::KillHung { daemon, not_after } => self.kill_hung(daemon, not_after),
                Action::NotPerformed { daemon } => {
                    tracing::warn!(daemon = %daemon, "the orchestrator took the restart and has not performed it: the same process runs");
                    self.published
                        .metrics
                        .restart(&daemon, RestartOutcome::not_performed);
                }
                Action::Persist => persist = true,
                Action::RefreshInventory => self.loops.refresh.notify_one(),
                Action::ReleaseLease { daemon } => self.release_lease(daemon),
                Action::RestartProven { daemon } => self.proven(&daemon),
                Action::HoldService { daemon, reason } => self.hold_service(daemon, reason),
                Action::LiftServiceHold { daemon } => self.lift_service_hold(daemon),
                Action::ConfigProblem { daemon, message } => config_problem(&daemon, message),
                Action::Event(event) => self.record(event),
            }
        }
        if persist {
            self.persist();
        }
    }

    /// The core proved a restart: the "verified" restart metric.
    fn proven(&self, daemon: &str) {
        let metrics = &self.published.metrics;
        metrics.restart(daemon, RestartOutcome::verified);
    }

    /// A transition: one info line, one event.
    fn record(&self, event: Event) {
        tracing::info!(
            daemon = %event.daemon,
            from = %event.from,
            to = %event.to,
            word = %event.word,
            reason = %event.reason,
            "transition"
        );
        self.published.events.push(event, wall_now());
    }

    fn persist(&self) {
        let saved = self.machine.persisted(now());
        let inventory = self.inventory.json.as_deref();
        if let Err(err) = statefile::save(&self.state_path, &saved, inventory, wall_now()) {
            tracing::error!(
                "cannot write the state file {}: {err}",
                self.state_path.display()
            );
        }
    }

    /// SIGHUP: the config file again; a config that does not load changes nothing.
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
                self.apply_config(new);
                tracing::info!("SIGHUP: configuration reloaded from {}", path.display());
            }
        }
    }

    /// A new config, to the machine and every loop; the listen addresses stay.
    fn apply_config(&mut self, new: Config) {
        if new.run.listen.agent != self.cfg.run.listen.agent
            || new.run.listen.http != self.cfg.run.listen.http
        {
            tracing::warn!("SIGHUP: listen addresses change only with a restart of the sidecar");
        }
        let (policies, default_policy) = policies(&new);
        self.machine.set_policies(policies, default_policy);
        self.machine
            .set_max_concurrent_restarts(max_concurrent_restarts(&new));
        self.machine.set_deadline_bounds(deadline_bounds(&new));
        self.machine
            .set_load_drain_percent(new.run.max_load_drain_percent);
        self.loops.probe_settings.send_replace(probe_settings(&new));
        self.loops.config.send_replace(Arc::new(new.clone()));
        self.restarts.orchestrator =
            Arc::new(Chain::from_config(&new.run.orchestrators, &new.ceph));
        self.restarts.killer = killer(&new);
        self.cfg = Config {
            run: crate::config::RunConfig {
                listen: crate::config::ListenConfig {
                    agent: self.cfg.run.listen.agent,
                    http: self.cfg.run.listen.http,
                    max_agent_connections: new.run.listen.max_agent_connections,
                },
                ..new.run.clone()
            },
            ..new
        };
        self.loops.refresh.notify_one();
    }

    fn publish(&self) {
        let health = self.loops.health.borrow();
        let view = View {
            snapshot: self.machine.snapshot(),
            at: now(),
            wall: wall_now(),
            host: self.host.clone(),
            config_file: self.config_path.clone(),
            inventory: self.inventory.status.clone(),
            health_gate: HealthGateStatus {
                checks: self.cfg.run.health_gate.checks.clone(),
                finding: health.current(),
                error: health.error.clone(),
            },
        };
        self.published.view.send_replace(Arc::new(view));
    }
}

/// A configuration problem of one daemon (an admin socket it may not use), or its end.
fn config_problem(daemon: &str, message: Option<String>) {
    match message {
        Some(message) => tracing::error!(
            daemon = %daemon,
            "configuration error (nothing is drained or restarted for it): {message}"
        ),
        None => tracing::info!(daemon = %daemon, "the configuration error is gone"),
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}
