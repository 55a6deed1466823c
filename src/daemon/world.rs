//! What the shell of `run` does to the world, behind one trait: the inventory read, a probe
//! chain, `ceph health detail`, the in-flight count, the restart lease and the orchestrator's
//! restart. The shell and its loops are generic over [`World`] (static dispatch), so the shell
//! runs in tests with a recording fake under tokio's paused clock (`daemon/tests.rs`);
//! [`RealWorld`] is the one `run` uses. The state file is not in it: tests write a temp dir.

use std::future::Future;
use std::time::Duration;

use super::inventory_refresh::{peer_inventory, InventoryUpdate, Listing};
use super::leases::LeaseRequest;
use super::probing::{run_chain, ChainContext, Target};
use crate::ceph::CephError;
use crate::config::{Config, InventorySource, StaticDaemon};
use crate::inventory::{self, Daemon};
use crate::lease::{Held, LeaseError, LeaseSettings, RadosError};
use crate::machine::verdict::Outcome;
use crate::orchestrate::kill::Killer;
use crate::orchestrate::{Chain, OrchestrateError};
use crate::probe::http::HttpProbe;
use crate::probe::s3::S3Canary;

/// Every side effect of the shell a test must fake. Each method is one call to the world; the
/// judgement of what came back stays in the machine.
pub(super) trait World: Send + Sync + 'static {
    /// This host's daemons (`ceph orch ps HOST --format json`, with `--refresh` when `refresh`,
    /// or the static list) and, for the orchestrator's inventory, the peers of the
    /// load-balanced types on every host (`ceph orch ps --daemon_type T`).
    fn inventory(
        &self,
        cfg: &Config,
        host: &str,
        refresh: bool,
    ) -> impl Future<Output = InventoryUpdate> + Send;

    /// One run of `target`'s probe chain (HTTP, S3, admin socket, and the peers when it
    /// fails).
    fn probe(
        &self,
        target: &Target,
        http: &HttpProbe,
        s3: Option<&S3Canary>,
        context: &ChainContext<'_>,
    ) -> impl Future<Output = Outcome> + Send;

    /// `ceph health detail --format json`, as text.
    fn health_detail(&self, cfg: &Config)
        -> impl Future<Output = Result<String, CephError>> + Send;

    /// The requests a daemon on `port` is serving now (its established connections); `None`
    /// when they cannot be counted.
    fn in_flight(&self, port: u16) -> Option<usize>;

    /// How long ago the daemon's running process started, as the host shows it; `None` when
    /// it cannot tell.
    fn process_started_ago(&self, target: &Target) -> Option<Duration>;

    /// Why every restart of `service` holds (a canary restart that did not help), if it does.
    fn held_because(
        &self,
        lease: &LeaseSettings,
        service: &str,
    ) -> impl Future<Output = Result<Option<String>, RadosError>> + Send;

    /// Takes a restart slot of the request's service for its duration.
    fn acquire(
        &self,
        request: &LeaseRequest,
    ) -> impl Future<Output = Result<Held, LeaseError>> + Send;

    /// Gives a restart slot back.
    fn release(
        &self,
        lease: &LeaseSettings,
        held: &Held,
    ) -> impl Future<Output = Result<(), RadosError>> + Send;

    /// Holds every restart of the request's service for its duration, saying its
    /// description (why).
    fn hold(&self, request: &LeaseRequest) -> impl Future<Output = Result<(), RadosError>> + Send;

    /// Lifts the hold on the restarts of `service`.
    fn lift_hold(
        &self,
        lease: &LeaseSettings,
        service: &str,
    ) -> impl Future<Output = Result<(), RadosError>> + Send;

    /// Asks the configured orchestrators, in order from the `first`-th, to restart `daemon`;
    /// which one took it, and what it said.
    fn restart(
        &self,
        orchestrator: &Chain,
        daemon: &Daemon,
        first: usize,
    ) -> impl Future<Output = Result<(usize, String), OrchestrateError>> + Send;

    /// Kills `daemon`'s hung process (`run.kill-hung`); says what ran.
    fn kill(
        &self,
        killer: &Killer,
        daemon: &Daemon,
    ) -> impl Future<Output = Result<String, OrchestrateError>> + Send;
}

/// The world `run` acts on: the `ceph` and `rados` CLIs, HTTP, the admin sockets, `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RealWorld;

impl World for RealWorld {
    async fn inventory(&self, cfg: &Config, host: &str, refresh: bool) -> InventoryUpdate {
        let result = match &cfg.run.inventory.source {
            InventorySource::Static(list) => Ok(Listing {
                daemons: list.iter().map(|s| static_daemon(s, host)).collect(),
                json: None,
            }),
            InventorySource::CephOrch => {
                let mut command = vec!["orch", "ps", host, "--format", "json"];
                if refresh {
                    command.push("--refresh");
                }
                match cfg.ceph.run(&command).await {
                    Ok(stdout) => inventory::parse(&stdout).map(|daemons| Listing {
                        daemons,
                        json: Some(stdout),
                    }),
                    Err(err) => Err(err.into()),
                }
            }
        };
        // The peers of the load-balanced types, on every host (not refreshed: cephadm's cache
        // is recent enough to know who the peers are).
        let peers = match (&cfg.run.inventory.source, &result) {
            (InventorySource::CephOrch, Ok(_)) => peer_inventory(cfg).await,
            _ => None,
        };
        InventoryUpdate { result, peers }
    }

    async fn probe(
        &self,
        target: &Target,
        http: &HttpProbe,
        s3: Option<&S3Canary>,
        context: &ChainContext<'_>,
    ) -> Outcome {
        run_chain(target, http, s3, context).await
    }

    async fn health_detail(&self, cfg: &Config) -> Result<String, CephError> {
        cfg.ceph
            .run(&["health", "detail", "--format", "json"])
            .await
    }

    fn in_flight(&self, port: u16) -> Option<usize> {
        crate::probe::connections::established(port)
    }

    fn process_started_ago(&self, target: &Target) -> Option<Duration> {
        crate::probe::asok::created_ago(&target.asok.0, &target.name, super::wall_now())
    }

    async fn held_because(
        &self,
        lease: &LeaseSettings,
        service: &str,
    ) -> Result<Option<String>, RadosError> {
        lease.held_because(service).await
    }

    async fn acquire(&self, request: &LeaseRequest) -> Result<Held, LeaseError> {
        let (service, cookie, description, duration) = request.lock();
        let lease = &request.settings;
        lease.acquire(service, cookie, description, duration).await
    }

    async fn release(&self, lease: &LeaseSettings, held: &Held) -> Result<(), RadosError> {
        lease.release(held).await
    }

    async fn hold(&self, request: &LeaseRequest) -> Result<(), RadosError> {
        let (service, cookie, reason, duration) = request.lock();
        request
            .settings
            .hold(service, cookie, reason, duration)
            .await
    }

    async fn lift_hold(&self, lease: &LeaseSettings, service: &str) -> Result<(), RadosError> {
        lease.lift_hold(service).await
    }

    async fn restart(
        &self,
        orchestrator: &Chain,
        daemon: &Daemon,
        first: usize,
    ) -> Result<(usize, String), OrchestrateError> {
        orchestrator.restart_from(daemon, first).await
    }

    async fn kill(&self, killer: &Killer, daemon: &Daemon) -> Result<String, OrchestrateError> {
        killer.kill(daemon).await
    }
}

/// A daemon of the static inventory, on this host.
fn static_daemon(listed: &StaticDaemon, host: &str) -> Daemon {
    Daemon {
        name: listed.name.clone(),
        daemon_type: listed.daemon_type.clone(),
        hostname: Some(host.to_string()),
        ip: None,
        ports: Vec::new(),
        status: inventory::OrchStatus::Unknown,
        status_desc: None,
        service_name: None,
        started: None,
    }
}
