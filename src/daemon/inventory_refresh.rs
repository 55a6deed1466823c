//! The inventory of `run`: `ceph orch ps HOST` (or the static list) every
//! `run.inventory-interval`, at once when the machine asks (`--refresh`), and the peers of the
//! load-balanced types on every host.

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, InventorySource};
use crate::inventory::{self, Daemon};

/// The result of one inventory refresh.
pub(super) struct InventoryUpdate {
    pub(super) result: Result<(Vec<Daemon>, Option<String>), String>,
    /// The daemons of the watched load-balanced types on every host (`ceph orch ps
    /// --daemon_type rgw`), when that call succeeded.
    pub(super) peers: Option<Vec<Daemon>>,
}

/// Refreshes the inventory every interval, and at once when asked: after a restart, with
/// `--refresh` (cephadm caches its inventory; the restarted daemon has a new start time).
pub(super) async fn inventory_loop(
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
pub(super) async fn peer_inventory(cfg: &Config) -> Option<Vec<Daemon>> {
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
