//! The `systemd` backend: `systemctl restart ceph-<fsid>@<type>.<id>.service`, the unit cephadm
//! deploys (cephadm's `get_unit_name`). It works when the mgr does not (no orchestrator
//! needed), so it is the usual fallback after `ceph-orch`. The service user needs the right to
//! restart the unit (polkit rule or root).

use std::time::Duration;

use super::{run_checked, OrchestrateError, Orchestrator};
use crate::inventory::Daemon;

#[derive(Debug, Clone)]
pub struct SystemdOrch {
    pub fsid: String,
    pub timeout: Duration,
}

impl SystemdOrch {
    pub fn argv(&self, daemon: &Daemon) -> Vec<String> {
        vec![
            "systemctl".to_string(),
            "restart".to_string(),
            format!("ceph-{}@{}.service", self.fsid, daemon.name),
        ]
    }
}

impl Orchestrator for SystemdOrch {
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        run_checked(&self.argv(daemon), self.timeout).await?;
        Ok(format!(
            "restarted ceph-{}@{}.service",
            self.fsid, daemon.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_cephadms() {
        let daemon = crate::inventory::parse(r#"[{"daemon_name": "rgw.lab.h1.abc"}]"#).unwrap();
        let orch = SystemdOrch {
            fsid: "3f2a-fsid".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            orch.argv(&daemon[0]),
            [
                "systemctl",
                "restart",
                "ceph-3f2a-fsid@rgw.lab.h1.abc.service"
            ]
        );
    }
}
