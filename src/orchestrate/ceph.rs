//! The `ceph-orch` backend: `ceph orch daemon restart <type>.<id>`, one daemon at a time.
//!
//! Never `ceph orch restart <service>`: that restarts every daemon of the service at once,
//! which is the outage, not the cure.

use super::{OrchestrateError, Orchestrator};
use crate::ceph::CephCli;
use crate::inventory::Daemon;

#[derive(Debug, Clone)]
pub struct CephOrch {
    pub cli: CephCli,
}

impl Orchestrator for CephOrch {
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        let stdout = self
            .cli
            .run(&["orch", "daemon", "restart", &daemon.name])
            .await?;
        Ok(stdout.trim().to_string())
    }
}
