//! The shell's loops, each a task on the one tracker: the inventory, the health gate, the
//! probes and the in-flight count. [`Loops`] holds the shell's ends of what it tells them;
//! [`Wiring`] the ends it reads from in its `select!`.

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::health_gate::{health_loop, HealthFinding};
use super::inventory_refresh::{inventory_loop, InventoryUpdate};
use super::probing::{in_flight_loop, probe_settings, ProbeSettings, Prober, Target};
use super::world::World;
use super::Published;
use crate::config::Config;
use crate::http::CommandRequest;
use crate::machine::Observation;

/// What the shell tells its loops, and the tracker every task of `run` runs on.
pub(super) struct Loops {
    /// Where probes, polls and restart answers go: the shell's own channel.
    pub(super) observations: mpsc::Sender<Observation>,
    /// The daemons to probe.
    pub(super) targets: watch::Sender<Arc<Vec<Target>>>,
    pub(super) probe_settings: watch::Sender<ProbeSettings>,
    /// The config the inventory and health loops read (ceph CLI, intervals, static list).
    pub(super) config: watch::Sender<Arc<Config>>,
    /// Refresh the inventory now (with `--refresh`).
    pub(super) refresh: Arc<Notify>,
    /// The health gate's last finding, for `/status`.
    pub(super) health: watch::Receiver<HealthFinding>,
    pub(super) tracker: TaskTracker,
}

/// The channels the shell's loop reads: its ends.
pub(super) struct Wiring {
    pub(super) observations: mpsc::Receiver<Observation>,
    pub(super) commands: mpsc::Receiver<CommandRequest>,
    pub(super) inventory: mpsc::Receiver<InventoryUpdate>,
}

impl Loops {
    /// Starts the inventory, health, probe and in-flight loops on `tracker`, acting on
    /// `world`. Returns the shell's ends, and where the HTTP API sends operator commands.
    pub(super) fn spawn<W: World>(
        cfg: &Config,
        host: &str,
        world: &Arc<W>,
        published: &Published,
        token: &CancellationToken,
        tracker: &TaskTracker,
    ) -> (Self, Wiring, mpsc::Sender<CommandRequest>) {
        let (observations, observations_rx) = mpsc::channel(4096);
        let (commands, commands_rx) = mpsc::channel(64);
        let (inventory, inventory_rx) = mpsc::channel(4);
        let (config, config_rx) = watch::channel(Arc::new(cfg.clone()));
        let (findings, health) = watch::channel(HealthFinding::none());
        let refresh = Arc::new(Notify::new());
        tracker.spawn(inventory_loop(
            Arc::clone(world),
            config_rx.clone(),
            host.to_string(),
            inventory,
            Arc::clone(&refresh),
            token.clone(),
        ));
        let gate = health_loop(Arc::clone(world), config_rx, findings, token.clone());
        tracker.spawn(gate);
        let loops = Self {
            targets: watch::Sender::new(Arc::new(Vec::new())),
            probe_settings: watch::Sender::new(probe_settings(cfg)),
            observations,
            config,
            refresh,
            health,
            tracker: tracker.clone(),
        };
        loops.spawn_probes(world, published, token);
        let wiring = Wiring {
            observations: observations_rx,
            commands: commands_rx,
            inventory: inventory_rx,
        };
        (loops, wiring, commands)
    }

    /// The probe loop and the in-flight count, reading the targets and the probe settings.
    fn spawn_probes<W: World>(
        &self,
        world: &Arc<W>,
        published: &Published,
        token: &CancellationToken,
    ) {
        let view = published.view.subscribe();
        self.tracker.spawn(in_flight_loop(
            Arc::clone(world),
            view.clone(),
            self.targets.subscribe(),
            self.observations.clone(),
            token.clone(),
        ));
        let prober = Prober {
            world: Arc::clone(world),
            view,
            targets: self.targets.subscribe(),
            health: self.health.clone(),
            observations: self.observations.clone(),
            metrics: Arc::clone(&published.metrics),
            tracker: self.tracker.clone(),
            peers: crate::peers::Cache::default(),
        };
        let settings = self.probe_settings.subscribe();
        self.tracker
            .spawn(prober.probe_loop(settings, token.clone()));
    }
}
