//! The one side effect that matters: asking the orchestrator to restart a daemon.
//!
//! [`Orchestrator`] is the only trait in the crate (static dispatch), so tests can record
//! restarts instead of making them. Backends: [`ceph::CephOrch`] (`ceph orch daemon restart`).

pub mod ceph;

use std::future::Future;

use crate::ceph::CephError;
use crate::inventory::Daemon;

#[derive(Debug, thiserror::Error)]
pub enum OrchestrateError {
    #[error(transparent)]
    Ceph(#[from] CephError),
}

pub trait Orchestrator {
    /// Asks for `daemon` to be restarted and returns what the orchestrator said. With cephadm
    /// this only *schedules* the restart (facts/ceph-and-peers.md §1.4): success is not proof
    /// that the daemon came back.
    fn restart(
        &self,
        daemon: &Daemon,
    ) -> impl Future<Output = Result<String, OrchestrateError>> + Send;
}
