//! The restart path of `run`: the cluster-wide restart lease, the service hold of a canary that
//! did not help, and the orchestrator call; each outcome goes back to the machine. Each runs as
//! a task in its daemon's span (`restart{daemon=rgw.a}`, `lease{daemon=rgw.a}`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::Instrument;

use super::world::World;
use super::{wall_now, Shell};

use crate::inventory::Daemon;
use crate::lease::{Held, LeaseSettings};
use crate::machine::{Observation, RestartError, State};
use crate::metrics::{Metrics, RestartOutcome};
use crate::orchestrate::kill::Killer;
use crate::orchestrate::Chain;
use crate::status::EventLog;

/// The restart leases this sidecar holds, by daemon. Taking one and giving one back run one
/// at a time, each with its event, so `/events` lists them in the order RADOS saw them: a give
/// back and the next take, racing on two cores, once logged the take first (read as an overlap).
#[derive(Default)]
pub(super) struct LeaseBook {
    held: std::sync::Mutex<BTreeMap<String, Held>>,
    turn: tokio::sync::Mutex<()>,
}

impl LeaseBook {
    /// The restart lease this daemon holds, taken out of the book (whoever takes it releases
    /// it).
    fn take(&self, name: &str) -> Option<Held> {
        self.held.lock().ok().and_then(|mut map| map.remove(name))
    }
}

/// What a restart or lease task acts with and reports to; cloned into each task.
pub(super) struct Restarts<W> {
    pub(super) world: Arc<W>,
    pub(super) orchestrator: Arc<Chain>,
    /// `run.kill-hung`'s way to kill a hung daemon; `None`: off.
    pub(super) killer: Option<Arc<Killer>>,
    pub(super) book: Arc<LeaseBook>,
    pub(super) events: Arc<EventLog>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) observations: mpsc::Sender<Observation>,
    /// Which backend of the chain took each daemon's last restart: a restart the machine
    /// asks to fall back goes to the ones after it.
    pub(super) taken_by: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
}

// By hand: a derive would want `W: Clone`, and the world is shared, not cloned.
impl<W> Clone for Restarts<W> {
    fn clone(&self) -> Self {
        Self {
            world: Arc::clone(&self.world),
            orchestrator: Arc::clone(&self.orchestrator),
            killer: self.killer.clone(),
            book: Arc::clone(&self.book),
            events: Arc::clone(&self.events),
            metrics: Arc::clone(&self.metrics),
            observations: self.observations.clone(),
            taken_by: Arc::clone(&self.taken_by),
        }
    }
}

/// A restart slot one restart asks for, or the hold of a canary that did not help.
pub(super) struct LeaseRequest {
    pub(super) settings: LeaseSettings,
    /// `restart-lease.<service>` is the RADOS object.
    pub(super) service: String,
    /// `<host>:<pid>:<nanoseconds>` ([`lease_cookie`]).
    pub(super) cookie: String,
    /// What `rados lock info` shows: who restarts what, or why the service holds.
    pub(super) description: String,
    /// It expires by itself after this.
    pub(super) duration: Duration,
}

impl LeaseRequest {
    /// What `rados lock get` is called with: service, cookie, description, duration.
    pub(super) fn lock(&self) -> (&str, &str, &str, Duration) {
        (
            &self.service,
            &self.cookie,
            &self.description,
            self.duration,
        )
    }
}

/// Why a restart waits, for the machine.
struct Deferred {
    reason: String,
    rados_unreachable: bool,
}

impl<W: World> Shell<W> {
    pub(super) fn restart(&self, name: String, fall_back: bool) {
        let Some(daemon) = self.inventory.known.get(&name).cloned() else {
            let _ = self
                .loops
                .observations
                .try_send(Observation::RestartAnswered {
                    daemon: name,
                    result: Err(RestartError::NotInInventory),
                });
            return;
        };
        let lease = self.cfg.lease.clone().map(|settings| LeaseRequest {
            settings,
            service: daemon.service(),
            cookie: lease_cookie(&self.host),
            description: format!("ceph-warden on {} restarting {name}", self.host),
            // The lease outlives the restart it covers by a margin, and expires by itself.
            duration: self.cfg.policy(&daemon.daemon_type).restart_timeout
                + Duration::from_secs(30),
        });
        let span = tracing::info_span!("restart", daemon = %name);
        let task = self.restarts.clone().restart(daemon, lease, fall_back);
        self.loops.tracker.spawn(task.instrument(span));
    }

    /// Kills the daemon's hung process (the machine asked: its restart was taken and its admin
    /// socket is silent too), unless the host shows a process started since `not_after` (the
    /// orchestrator's restart came first: the kill would hit the new process). What the kill
    /// said, or why it did not happen, goes back to the machine.
    pub(super) fn kill_hung(&self, name: String, not_after: std::time::Instant) {
        let target = (self.loops.targets.borrow().iter())
            .find(|t| t.name == name)
            .cloned();
        let daemon = self.inventory.known.get(&name).cloned();
        let killer = self.restarts.killer.clone();
        let restarts = self.restarts.clone();
        let span = tracing::info_span!("restart", daemon = %name);
        let task = async move {
            let result = match (daemon, killer, target) {
                (Some(daemon), Some(killer), Some(target)) => {
                    let started = restarts
                        .world
                        .process_started_ago(&target)
                        .and_then(|ago| super::now().checked_sub(ago));
                    if started.is_some_and(|started| started >= not_after) {
                        Err("not killed: a new process runs already".to_string())
                    } else {
                        let killed = restarts.world.kill(&killer, &daemon).await;
                        killed.map_err(|err| err.to_string())
                    }
                }
                _ => {
                    Err("not killed: run.kill-hung is off, or the daemon left the inventory".into())
                }
            };
            match &result {
                Ok(said) => {
                    restarts.metrics.restart(&name, RestartOutcome::hung_killed);
                    tracing::warn!(
                        "killed the hung process (its admin socket did not answer either): {said}"
                    );
                }
                Err(err) => tracing::error!(
                    "could not kill the hung process (the orchestrator's stop will, later): {err}"
                ),
            }
            let _ = restarts
                .observations
                .send(Observation::HungKilled {
                    daemon: name,
                    result,
                })
                .await;
        };
        self.loops.tracker.spawn(task.instrument(span));
    }

    /// The service of a known daemon (its cephadm service name, else its type) and its
    /// restart window.
    fn service_of(&self, name: &str) -> Option<(String, Duration)> {
        let daemon = self.inventory.known.get(name)?;
        Some((
            daemon.service(),
            self.cfg.policy(&daemon.daemon_type).restart_window,
        ))
    }

    /// A canary restart did not help: hold every restart of the service, on every host, for
    /// the restart window (or until the operator resets the canary).
    pub(super) fn hold_service(&self, name: String, reason: String) {
        let (Some((service, window)), Some(lease)) =
            (self.service_of(&name), self.cfg.lease.clone())
        else {
            self.release_lease(name);
            return;
        };
        let hold = LeaseRequest {
            settings: lease,
            service,
            cookie: lease_cookie(&self.host),
            description: format!(
                "{name} on {} at {}: {reason}",
                self.host,
                humantime::format_rfc3339_seconds(wall_now())
            ),
            duration: window,
        };
        let held = self.restarts.book.take(&name);
        let span = tracing::info_span!("lease", daemon = %name);
        let task = self.restarts.clone().hold(name, hold, held);
        self.loops.tracker.spawn(task.instrument(span));
    }

    pub(super) fn lift_service_hold(&self, name: String) {
        let (Some((service, _)), Some(lease)) = (self.service_of(&name), self.cfg.lease.clone())
        else {
            return;
        };
        let span = tracing::info_span!("lease", daemon = %name);
        let task = self.restarts.clone().lift_hold(name, lease, service);
        self.loops.tracker.spawn(task.instrument(span));
    }

    pub(super) fn release_lease(&self, name: String) {
        let (Some(held), Some(lease)) = (self.restarts.book.take(&name), self.cfg.lease.clone())
        else {
            return;
        };
        let span = tracing::info_span!("lease", daemon = %name);
        let restarts = self.restarts.clone();
        let task = async move { restarts.release(&lease, &name, &held).await };
        self.loops.tracker.spawn(task.instrument(span));
    }
}

impl<W: World> Restarts<W> {
    /// Takes the lease, when there is one, then asks the orchestrator.
    async fn restart(self, daemon: Daemon, lease: Option<LeaseRequest>, fall_back: bool) {
        if let Some(lease) = lease {
            if let Err(Deferred {
                reason,
                rados_unreachable,
            }) = self.take_lease(&daemon.name, &lease).await
            {
                // The machine says it once, as an event; each retry is a debug line.
                tracing::debug!("restart deferred: {reason}");
                let _ = self
                    .observations
                    .send(Observation::RestartDeferred {
                        daemon: daemon.name,
                        reason,
                        rados_unreachable,
                    })
                    .await;
                return;
            }
        }
        self.ask_orchestrator(daemon, fall_back).await;
    }

    /// The restart lease for `name`, unless a canary restart that did not help holds every
    /// restart of the service, or no slot is free.
    async fn take_lease(&self, name: &str, lease: &LeaseRequest) -> Result<(), Deferred> {
        let service = &lease.service;
        if let Ok(Some(why)) = self.world.held_because(&lease.settings, service).await {
            return Err(Deferred {
                reason: format!("every restart of {service} holds: {why}"),
                rados_unreachable: false,
            });
        }
        let _turn = self.book.turn.lock().await;
        let held = self.world.acquire(lease).await.map_err(|err| Deferred {
            reason: err.to_string(),
            rados_unreachable: err.rados_unreachable(),
        })?;
        let said = format!(
            "took the restart lease {}/{} ({})",
            held.object, held.slot, lease.cookie
        );
        tracing::info!("{said}");
        self.events.push(lease_event(name, said), wall_now());
        if let Ok(mut map) = self.book.held.lock() {
            map.insert(name.to_string(), held);
        }
        Ok(())
    }

    /// Asks the chain of backends; `fall_back`: from the one after the backend that took the
    /// last restart (which it did not perform).
    async fn ask_orchestrator(self, daemon: Daemon, fall_back: bool) {
        let name = daemon.name.clone();
        let last_taker = (self.taken_by.lock().ok()).and_then(|taken| taken.get(&name).copied());
        let first = match last_taker {
            Some(last) if fall_back => last + 1,
            _ => 0,
        };
        tracing::info!(
            first_backend = first,
            "asking the orchestrator for a restart"
        );
        self.metrics.restart(&name, RestartOutcome::requested);
        let result = self
            .world
            .restart(&self.orchestrator, &daemon, first)
            .await
            .map(|(backend, said)| {
                if let Ok(mut taken) = self.taken_by.lock() {
                    taken.insert(name.clone(), backend);
                }
                said
            })
            .map_err(|err| {
                if err.not_taken() {
                    self.metrics.restart(&name, RestartOutcome::not_taken);
                    tracing::warn!("the orchestrator did not take the restart: {err}");
                    RestartError::NotTaken(err.to_string())
                } else {
                    self.metrics.restart(&name, RestartOutcome::failed);
                    tracing::warn!("restart failed: {err}");
                    RestartError::Orchestrator(err.to_string())
                }
            });
        let _ = self
            .observations
            .send(Observation::RestartAnswered {
                daemon: name,
                result,
            })
            .await;
    }

    /// Holds every restart of the service, then gives back the lease the canary held.
    async fn hold(self, name: String, hold: LeaseRequest, held: Option<Held>) {
        let service = &hold.service;
        match self.world.hold(&hold).await {
            Ok(()) => {
                let said = format!("every restart of {service} holds: {}", hold.description);
                tracing::warn!("{said}");
                self.events.push(lease_event(&name, said), wall_now());
            }
            Err(err) => tracing::error!("cannot hold the restarts of {service}: {err}"),
        }
        if let Some(held) = held {
            self.release(&hold.settings, &name, &held).await;
        }
    }

    async fn lift_hold(self, name: String, lease: LeaseSettings, service: String) {
        match self.world.lift_hold(&lease, &service).await {
            Ok(()) => {
                let said = format!("lifted the hold on the restarts of {service}");
                tracing::info!("{said}");
                self.events.push(lease_event(&name, said), wall_now());
            }
            Err(err) => {
                tracing::error!("cannot lift the hold on {service} (it expires by itself): {err}")
            }
        }
    }

    /// Gives the restart lease back, saying so in the events (or that it expires by itself).
    async fn release(&self, lease: &LeaseSettings, name: &str, held: &Held) {
        let _turn = self.book.turn.lock().await;
        match self.world.release(lease, held).await {
            Ok(()) => {
                let said = format!("gave back the restart lease {}/{}", held.object, held.slot);
                tracing::info!("{said}");
                self.events.push(lease_event(name, said), wall_now());
            }
            Err(err) => tracing::warn!(
                "the restart lease could not be given back (it expires by itself): {err}"
            ),
        }
    }
}

/// `<host>:<pid>:<nanoseconds>`: unique per restart, readable in `rados lock info`.
fn lease_cookie(host: &str) -> String {
    let nanos = wall_now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{host}:{}:{nanos}", std::process::id())
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
