//! The inventory of `run`: `ceph orch ps HOST` (or the static list) every
//! `run.inventory-interval`, at once when the machine asks (`--refresh`), and the peers of the
//! load-balanced types on every host.

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::world::World;
use crate::config::Config;
use crate::inventory::{self, Daemon, InventoryError};

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

/// Refreshes the inventory every interval, and at once when asked: after a restart, with
/// `--refresh` (cephadm caches its inventory; the restarted daemon has a new start time).
pub(super) async fn inventory_loop<W: World>(
    world: Arc<W>,
    config: watch::Receiver<Arc<Config>>,
    host: String,
    updates: mpsc::Sender<InventoryUpdate>,
    refresh: Arc<Notify>,
    token: CancellationToken,
) {
    let mut force = false;
    loop {
        let cfg = Arc::clone(&config.borrow());
        let update = world.inventory(&cfg, &host, force).await;
        if updates.send(update).await.is_err() {
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
