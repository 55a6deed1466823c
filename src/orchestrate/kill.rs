//! The kill of a hung daemon whose restart the orchestrator took (`run.kill-hung`): cephadm's
//! unit stops its container with `podman stop`, which sends SIGTERM and waits 10 s before
//! SIGKILL, and a hung RGW acts on no SIGTERM. Killing it first lets the restart start the new
//! process at once. `systemd`: `systemctl kill --signal=SIGKILL ceph-<fsid>@<name>.service`
//! (every process of the unit's cgroup: with podman's split cgroups, which cephadm's unit
//! delegates, the container's too); `command`: an argv template, as the `command` backend's.

use std::time::Duration;

use super::command::fill;
use super::{run_checked, OrchestrateError};
use crate::config::HungKill;
use crate::inventory::Daemon;
use crate::subprocess::display_argv;

#[derive(Debug, Clone)]
pub struct Killer {
    how: HungKill,
    /// For `systemctl kill`: the `ceph` timeout, as the `systemd` backend's restart.
    systemctl_timeout: Duration,
}

impl Killer {
    pub fn new(how: HungKill, systemctl_timeout: Duration) -> Self {
        Self {
            how,
            systemctl_timeout,
        }
    }

    pub fn argv(&self, daemon: &Daemon) -> Vec<String> {
        match &self.how {
            HungKill::Systemd { fsid } => vec![
                "systemctl".to_string(),
                "kill".to_string(),
                "--signal=SIGKILL".to_string(),
                format!("ceph-{fsid}@{}.service", daemon.name),
            ],
            HungKill::Command { argv, .. } => fill(argv, daemon),
        }
    }

    /// Kills `daemon`'s process; says what ran (and what it printed, if anything).
    pub async fn kill(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        let argv = self.argv(daemon);
        let timeout = match &self.how {
            HungKill::Systemd { .. } => self.systemctl_timeout,
            HungKill::Command { timeout, .. } => *timeout,
        };
        let said = run_checked(&argv, timeout).await?;
        let ran = display_argv(&argv);
        Ok(if said.is_empty() {
            ran
        } else {
            format!("{ran}: {said}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon() -> Daemon {
        crate::inventory::parse(r#"[{"daemon_name": "rgw.lab.h1.x", "hostname": "h1"}]"#)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn systemd_kills_every_process_of_cephadms_unit() {
        let killer = Killer::new(
            HungKill::Systemd {
                fsid: "3f2a".into(),
            },
            Duration::from_secs(1),
        );
        assert_eq!(
            killer.argv(&daemon()),
            [
                "systemctl",
                "kill",
                "--signal=SIGKILL",
                "ceph-3f2a@rgw.lab.h1.x.service"
            ]
        );
    }

    #[tokio::test]
    async fn a_command_kill_says_what_ran_or_why_it_failed() {
        let command = |argv: &[&str]| {
            Killer::new(
                HungKill::Command {
                    argv: argv.iter().map(|s| (*s).to_string()).collect(),
                    timeout: Duration::from_secs(5),
                },
                Duration::from_secs(1),
            )
        };
        assert_eq!(
            command(&["true", "{id}"]).kill(&daemon()).await.unwrap(),
            "true lab.h1.x"
        );
        let err = command(&["sh", "-c", "echo no such process >&2; exit 1"])
            .kill(&daemon())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("exited 1: no such process"), "{err}");
    }
}
