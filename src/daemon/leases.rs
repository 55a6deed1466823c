//! The restart path of `run`: the cluster-wide restart lease, the service hold of a canary that
//! did not help, and the orchestrator call; each outcome goes back to the machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::world::World;
use super::{wall_now, Shell};

use crate::machine::{Observation, RestartError, State};
use crate::metrics::RestartOutcome;
use crate::status::EventLog;

/// The restart leases this sidecar holds, by daemon. Taking one and giving one back run one
/// at a time, each with its event, so `/events` lists them in the order RADOS saw them: a give
/// back and the next take, racing on two cores, once logged the take first (read as an overlap).
#[derive(Default)]
pub(super) struct LeaseBook {
    held: std::sync::Mutex<BTreeMap<String, crate::lease::Held>>,
    turn: tokio::sync::Mutex<()>,
}

impl<W: World> Shell<W> {
    pub(super) fn restart(&self, name: String) {
        let Some(daemon) = self.known.get(&name).cloned() else {
            let _ = self.observations.try_send(Observation::RestartAnswered {
                daemon: name,
                result: Err(RestartError::NotInInventory),
            });
            return;
        };
        let orchestrator = Arc::clone(&self.orchestrator);
        let world = Arc::clone(&self.world);
        let observations = self.observations.clone();
        let metrics = Arc::clone(&self.metrics);
        let events = Arc::clone(&self.events);
        let leases = Arc::clone(&self.leases);
        let lease = self.cfg.lease.clone();
        let service = daemon.service();
        // The lease outlives the restart it covers by a margin, and expires by itself.
        let duration =
            self.cfg.policy(&daemon.daemon_type).restart_timeout + Duration::from_secs(30);
        let cookie = lease_cookie(&self.host);
        let description = format!("ceph-warden on {} restarting {name}", self.host);
        self.tracker.spawn(async move {
            if let Some(lease) = lease {
                // A canary restart that did not help holds every restart of the service.
                if let Ok(Some(why)) = world.held_because(&lease, &service).await {
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
                let turn = leases.turn.lock().await;
                match world
                    .acquire(&lease, &service, &cookie, &description, duration)
                    .await
                {
                    Ok(held) => {
                        let reason = format!(
                            "took the restart lease {}/{} ({cookie})",
                            held.object, held.slot
                        );
                        tracing::info!(daemon = %name, "{reason}");
                        events.push(lease_event(&name, reason), wall_now());
                        if let Ok(mut map) = leases.held.lock() {
                            map.insert(name.clone(), held);
                        }
                        drop(turn);
                    }
                    Err(err) => {
                        drop(turn);
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
            let result = world.restart(&orchestrator, &daemon).await.map_err(|err| {
                metrics.restart(&name, RestartOutcome::failed);
                tracing::warn!(daemon = %name, "restart failed: {err}");
                RestartError::Orchestrator(err.to_string())
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
    pub(super) fn service_of(&self, name: &str) -> Option<(String, Duration)> {
        let daemon = self.known.get(name)?;
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
        let description = format!(
            "{name} on {} at {}: {reason}",
            self.host,
            humantime::format_rfc3339_seconds(wall_now())
        );
        let cookie = lease_cookie(&self.host);
        let events = Arc::clone(&self.events);
        let slot = self.take_lease(&name);
        let world = Arc::clone(&self.world);
        let leases = Arc::clone(&self.leases);
        self.tracker.spawn(async move {
            match world
                .hold(&lease, &service, &cookie, &description, window)
                .await
            {
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
                release(&*world, &leases, &lease, &name, &held, &events).await;
            }
        });
    }

    pub(super) fn lift_service_hold(&self, name: String) {
        let (Some((service, _)), Some(lease)) = (self.service_of(&name), self.cfg.lease.clone())
        else {
            return;
        };
        let events = Arc::clone(&self.events);
        let world = Arc::clone(&self.world);
        self.tracker.spawn(async move {
            match world.lift_hold(&lease, &service).await {
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
    pub(super) fn take_lease(&self, name: &str) -> Option<crate::lease::Held> {
        self.leases
            .held
            .lock()
            .ok()
            .and_then(|mut map| map.remove(name))
    }

    pub(super) fn release_lease(&self, name: String) {
        let (Some(held), Some(lease)) = (self.take_lease(&name), self.cfg.lease.clone()) else {
            return;
        };
        let events = Arc::clone(&self.events);
        let world = Arc::clone(&self.world);
        let leases = Arc::clone(&self.leases);
        self.tracker
            .spawn(async move { release(&*world, &leases, &lease, &name, &held, &events).await });
    }
}

/// `<host>:<pid>:<nanoseconds>`: unique per restart, readable in `rados lock info`.
pub(super) fn lease_cookie(host: &str) -> String {
    let nanos = wall_now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{host}:{}:{nanos}", std::process::id())
}

/// Gives the restart lease back, saying so in the events (or that it expires by itself).
pub(super) async fn release<W: World>(
    world: &W,
    book: &LeaseBook,
    lease: &crate::lease::LeaseSettings,
    name: &str,
    held: &crate::lease::Held,
    events: &EventLog,
) {
    let _turn = book.turn.lock().await;
    match world.release(lease, held).await {
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
pub(super) fn lease_event(daemon: &str, reason: String) -> crate::machine::Event {
    crate::machine::Event {
        daemon: daemon.to_string(),
        from: State::Restarting,
        to: State::Restarting,
        word: String::new(),
        reason,
    }
}
