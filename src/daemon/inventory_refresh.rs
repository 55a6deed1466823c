//! The inventory of `run`: `ceph orch ps HOST` (or the static list) every
//! `run.inventory-interval`, at once when the machine asks (`--refresh`), and the peers of the
//! load-balanced types on every host; each refresh becomes the probe targets and the machine's
//! [`Observation::Inventory`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::probing::Target;
use super::world::World;
use super::{now, wall_now, Shell};
use crate::config::{Config, InventorySource};
use crate::inventory::{self, Daemon, InventoryError};
use crate::machine::{Discovered, Observation};
use crate::peers::Peer;
use crate::status::InventoryStatus;

/// The inventory in force: the daemons the shell watches and what `/status` says of it.
pub(super) struct Inventory {
    /// The daemons of the inventory in force, by name: the ones a restart can name.
    pub(super) known: BTreeMap<String, Daemon>,
    pub(super) status: InventoryStatus,
    /// The `ceph orch ps` JSON in force, kept in the state file.
    pub(super) json: Option<String>,
    /// The last list of the load-balanced daemons on every host (peer comparison).
    peer_daemons: Vec<Daemon>,
    /// Daemons the inventory lists without an address or port (warned about once).
    unwatched: BTreeSet<String>,
}

impl Inventory {
    pub(super) fn new(source: &InventorySource) -> Self {
        let source = match source {
            InventorySource::CephOrch => "ceph-orch",
            InventorySource::Static(_) => "static",
        };
        Self {
            known: BTreeMap::new(),
            status: InventoryStatus {
                source: source.to_string(),
                ..InventoryStatus::default()
            },
            json: None,
            peer_daemons: Vec::new(),
            unwatched: BTreeSet::new(),
        }
    }
}

/// What one inventory refresh listed.
pub(super) struct Listing {
    pub(super) daemons: Vec<Daemon>,
    /// The `ceph orch ps` JSON it came from, kept in the state file (none for the static list).
    pub(super) json: Option<String>,
}

/// The result of one inventory refresh.
pub(super) struct InventoryUpdate {
    pub(super) result: Result<Listing, InventoryError>,
    /// The daemons of the watched load-balanced types on every host (`ceph orch ps
    /// --daemon_type rgw`), when that call succeeded.
    pub(super) peers: Option<Vec<Daemon>>,
}

/// After a failed refresh the next one comes sooner than the interval: 1 s, then doubling up
/// to the interval. A sidecar that started while `orch ps` timed out (a busy mgr) would
/// otherwise know no daemon for a whole interval; the doubling keeps a struggling mgr from
/// being asked every second for long.
fn retry_after(failures: u32, interval: Duration) -> Duration {
    Duration::from_secs(1)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
        .min(interval)
}

/// Refreshes the inventory every interval (sooner after a failure, see [`retry_after`]), and
/// at once when asked: after a restart, with `--refresh` (cephadm caches its inventory; the
/// restarted daemon has a new start time).
pub(super) async fn inventory_loop<W: World>(
    world: Arc<W>,
    config: watch::Receiver<Arc<Config>>,
    host: String,
    updates: mpsc::Sender<InventoryUpdate>,
    refresh: Arc<Notify>,
    token: CancellationToken,
) {
    let mut force = false;
    let mut failures = 0u32;
    loop {
        let cfg = Arc::clone(&config.borrow());
        let update = world.inventory(&cfg, &host, force).await;
        failures = if update.result.is_ok() {
            0
        } else {
            failures.saturating_add(1)
        };
        if updates.send(update).await.is_err() {
            return;
        }
        let next = match failures {
            0 => cfg.run.inventory.interval,
            n => retry_after(n, cfg.run.inventory.interval),
        };
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(next) => force = false,
            () = refresh.notified() => force = true,
        }
    }
}

/// `ceph orch ps --daemon_type T` for every watched load-balanced type; `None` when a call
/// fails (the last peers stay).
pub(super) async fn peer_inventory(cfg: &Config) -> Option<Vec<Daemon>> {
    let mut all = Vec::new();
    for daemon_type in &cfg.run.types {
        if !cfg.policy(daemon_type).load_balanced {
            continue;
        }
        let command = [
            "orch",
            "ps",
            "--daemon_type",
            daemon_type,
            "--format",
            "json",
        ];
        let listed = match cfg.ceph.run(&command).await {
            Ok(json) => inventory::parse(&json),
            Err(err) => Err(InventoryError::from(err)),
        };
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

impl<W: World> Shell<W> {
    pub(super) fn inventory_update(&mut self, update: InventoryUpdate) {
        match update.result {
            Ok(listing) => {
                self.inventory.status.last_error = None;
                if let Some(peers) = update.peers {
                    self.inventory.peer_daemons = peers;
                }
                self.apply_inventory(listing.daemons, listing.json, false);
            }
            Err(err) => {
                let err = err.to_string();
                // Once per distinct error: /status shows it for as long as it lasts.
                if self.inventory.status.last_error.as_ref() != Some(&err) {
                    tracing::warn!(
                        "inventory refresh failed, the last good inventory stays in force: {err}"
                    );
                }
                self.inventory.status.last_error = Some(err);
            }
        }
    }

    /// Watches the daemons of the watched types that `daemons` lists: probe targets for the
    /// ones with an address, and the list for the machine. `from_state_file`: the last good
    /// inventory, until the orchestrator answers (watched, never restarted).
    pub(super) fn apply_inventory(
        &mut self,
        daemons: Vec<Daemon>,
        json: Option<String>,
        from_state_file: bool,
    ) {
        let wall = wall_now();
        let candidates = self.peer_candidates(&daemons);
        let mut targets = Vec::new();
        let mut discovered = Vec::new();
        let mut known = BTreeMap::new();
        let watched: Vec<Daemon> = daemons
            .into_iter()
            .filter(|d| self.cfg.run.types.contains(&d.daemon_type))
            .collect();
        for daemon in watched {
            let Some(target) = self.target(&daemon, &candidates) else {
                continue;
            };
            targets.push(target);
            discovered.push(Discovered {
                name: daemon.name.clone(),
                daemon_type: daemon.daemon_type.clone(),
                started_ago: daemon.started.and_then(|s| wall.duration_since(s).ok()),
                service: daemon.service(),
                stale: from_state_file,
            });
            known.insert(daemon.name.clone(), daemon);
        }
        self.inventory.status.daemons = known.len();
        self.inventory.status.last_ok = Some(now());
        self.inventory.status.from_state_file = from_state_file;
        // A daemon stays known (restartable) until the machine forgets it.
        self.inventory.known.extend(known);
        let actions = self
            .machine
            .observe(Observation::Inventory(discovered), now());
        self.execute(actions);
        self.retarget(targets);
        if json.is_some() && json != self.inventory.json {
            self.inventory.json = json;
            if !from_state_file {
                self.persist();
            }
        }
    }

    /// The daemons a watched one may be compared with: this inventory and the last peer
    /// listing (the orchestrator's inventory only).
    fn peer_candidates(&self, daemons: &[Daemon]) -> Vec<Daemon> {
        if let InventorySource::Static(_) = self.cfg.run.inventory.source {
            return Vec::new();
        }
        let mut all = daemons.to_vec();
        for peer in &self.inventory.peer_daemons {
            if !all.iter().any(|d| d.name == peer.name) {
                all.push(peer.clone());
            }
        }
        all
    }

    /// What the probes of `daemon` ask; `None` when the inventory has no address for it.
    fn target(&mut self, daemon: &Daemon, candidates: &[Daemon]) -> Option<Target> {
        let url = match &self.cfg.run.inventory.source {
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
            if self.inventory.unwatched.insert(daemon.name.clone()) {
                tracing::warn!(daemon = %daemon.name, "no address or port in the inventory; not watched");
            }
            return None;
        };
        self.inventory.unwatched.remove(&daemon.name);
        Some(Target {
            name: daemon.name.clone(),
            url,
            chain: self.cfg.probes(&daemon.daemon_type),
            asok: self.cfg.asok(&daemon.daemon_type),
            peers: self.peers_of(daemon, candidates),
        })
    }

    /// The probe targets: `fresh`, and every daemon the machine still tracks that this one
    /// inventory missed (it keeps being probed). A daemon the machine forgot is not known.
    fn retarget(&mut self, fresh: Vec<Target>) {
        let tracked: Vec<String> = self
            .machine
            .snapshot()
            .daemons
            .iter()
            .map(|d| d.name.clone())
            .collect();
        self.inventory
            .known
            .retain(|name, _| tracked.contains(name));
        let mut targets: Vec<Target> = self
            .loops
            .targets
            .borrow()
            .iter()
            .filter(|t| tracked.contains(&t.name) && !fresh.iter().any(|n| n.name == t.name))
            .cloned()
            .collect();
        targets.extend(fresh);
        self.loops.targets.send_replace(Arc::new(targets));
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
}
