//! The one side effect that matters: asking the orchestrator to restart a daemon.
//!
//! [`Orchestrator`] is static dispatch, so `check`'s tests record restarts instead of making
//! them; `run` reaches it through its one side-effect trait (`daemon::world::World`).
//! Backends (docs/design.md §7): [`ceph::CephOrch`] (`ceph orch daemon restart`),
//! [`systemd::SystemdOrch`] (`systemctl restart ceph-<fsid>@<name>.service`, for when the mgr
//! is down) and [`command::CommandOrch`] (an argv template). [`Chain`] tries the configured
//! ones in order until one accepts.

pub mod ceph;
pub mod command;
pub mod kill;
pub mod systemd;

use std::future::Future;
use std::time::Duration;

use crate::ceph::{CephCli, CephError};
use crate::config::Backend;
use crate::inventory::Daemon;
use crate::subprocess::{self, display_argv, stderr_tail, SubprocessError};

#[derive(Debug, thiserror::Error)]
pub enum OrchestrateError {
    #[error(transparent)]
    Ceph(#[from] CephError),
    #[error(transparent)]
    Run(#[from] SubprocessError),
    #[error("`{argv}` exited {code}: {stderr}")]
    Failed {
        argv: String,
        code: String,
        stderr: String,
    },
    #[error("{}", .failures.join("; then "))]
    AllFailed {
        failures: Vec<String>,
        /// Every backend's failure was [`OrchestrateError::not_taken`].
        none_taken: bool,
    },
}

/// What cephadm answers when it did not take the restart at all: an unknown daemon (`Error
/// EINVAL: Unable to find rgw.X daemon(s)`), a mgr failing over (`no valid command found`,
/// `Error ENOENT: Module not found`), the ok-to-stop refusal even with `--force`, a CLI that
/// does not know the command's words.
const NOT_TAKEN: [&str; 5] = [
    "Unable to find",
    "no valid command found",
    "Module not found",
    ceph::FORCE_BYPASSES,
    "Invalid command",
];

impl OrchestrateError {
    /// The orchestrator did not take the restart (refused it, or could not be asked: the
    /// `ceph` CLI timed out, as it does while no mgr is active), as opposed to a restart that
    /// was tried and failed. Not taken is no attempt: it costs no restart budget.
    pub fn not_taken(&self) -> bool {
        match self {
            Self::Ceph(CephError::Failed { stderr, .. }) => {
                NOT_TAKEN.iter().any(|said| stderr.contains(said))
            }
            Self::Ceph(CephError::Run(SubprocessError::Timeout { .. })) => true,
            Self::AllFailed { none_taken, .. } => *none_taken,
            _ => false,
        }
    }
}

pub trait Orchestrator {
    /// Asks for `daemon` to be restarted and returns what the orchestrator said. With cephadm
    /// this only *schedules* the restart (`Scheduled to restart rgw.X on host 'HOST'`, exit 0,
    /// at once): success is not proof that the daemon came back.
    fn restart(
        &self,
        daemon: &Daemon,
    ) -> impl Future<Output = Result<String, OrchestrateError>> + Send;
}

/// Runs `argv`; a non-zero exit is an error with the exit code and the tail of stderr.
async fn run_checked(argv: &[String], timeout: Duration) -> Result<String, OrchestrateError> {
    let captured = subprocess::run(argv, timeout).await?;
    if captured.status.success() {
        return Ok(String::from_utf8_lossy(&captured.stdout).trim().to_string());
    }
    Err(OrchestrateError::Failed {
        argv: display_argv(argv),
        code: captured
            .status
            .code()
            .map_or_else(|| "by a signal".to_string(), |c| c.to_string()),
        stderr: stderr_tail(&captured.stderr),
    })
}

/// One configured backend.
#[derive(Debug, Clone)]
pub enum AnyOrchestrator {
    Ceph(ceph::CephOrch),
    Systemd(systemd::SystemdOrch),
    Command(command::CommandOrch),
}

impl AnyOrchestrator {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ceph(_) => "ceph-orch",
            Self::Systemd(_) => "systemd",
            Self::Command(_) => "command",
        }
    }
}

impl Orchestrator for AnyOrchestrator {
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        match self {
            Self::Ceph(o) => o.restart(daemon).await,
            Self::Systemd(o) => o.restart(daemon).await,
            Self::Command(o) => o.restart(daemon).await,
        }
    }
}

/// The configured backends, tried in order until one accepts.
#[derive(Debug, Clone)]
pub struct Chain {
    pub backends: Vec<AnyOrchestrator>,
}

impl Chain {
    pub fn from_config(backends: &[Backend], ceph: &CephCli) -> Self {
        Self {
            backends: backends
                .iter()
                .map(|backend| match backend {
                    Backend::CephOrch => {
                        AnyOrchestrator::Ceph(ceph::CephOrch { cli: ceph.clone() })
                    }
                    Backend::Systemd { fsid } => AnyOrchestrator::Systemd(systemd::SystemdOrch {
                        fsid: fsid.clone(),
                        timeout: ceph.timeout,
                    }),
                    Backend::Command { argv, timeout } => {
                        AnyOrchestrator::Command(command::CommandOrch {
                            argv: argv.clone(),
                            timeout: *timeout,
                        })
                    }
                })
                .collect(),
        }
    }

    /// Tries the backends from the `first`-th (from the first again when `first` is past the
    /// last) until one takes the restart; returns which one did and what it said (with its
    /// name, when it is not the first backend).
    pub async fn restart_from(
        &self,
        daemon: &Daemon,
        first: usize,
    ) -> Result<(usize, String), OrchestrateError> {
        let first = if first < self.backends.len() {
            first
        } else {
            tracing::warn!(
                daemon = %daemon.name,
                "no backend after {} to fall back to: asking from the first again",
                self.backends.last().map_or("none", AnyOrchestrator::name)
            );
            0
        };
        let mut failures = Vec::new();
        let mut none_taken = true;
        for (i, backend) in self.backends.iter().enumerate().skip(first) {
            match backend.restart(daemon).await {
                Ok(said) if i == 0 => return Ok((i, said)),
                Ok(said) => return Ok((i, format!("{}: {said}", backend.name()))),
                Err(err) => {
                    tracing::warn!(daemon = %daemon.name, backend = backend.name(), "restart failed: {err}");
                    none_taken &= err.not_taken();
                    failures.push(format!("{}: {err}", backend.name()));
                }
            }
        }
        Err(OrchestrateError::AllFailed {
            failures,
            none_taken,
        })
    }
}

impl Orchestrator for Chain {
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        self.restart_from(daemon, 0).await.map(|(_, said)| said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(argv: &[&str]) -> AnyOrchestrator {
        AnyOrchestrator::Command(command::CommandOrch {
            argv: argv.iter().map(|s| (*s).to_string()).collect(),
            timeout: Duration::from_secs(5),
        })
    }

    /// A restart the first backend took and did not perform goes to the ones after it; with
    /// none after it, to the first again.
    #[tokio::test]
    async fn a_restart_can_start_past_the_backend_that_took_the_last_one() {
        let daemon = &crate::inventory::parse(r#"[{"daemon_name": "rgw.a"}]"#).unwrap()[0];
        let chain = Chain {
            backends: vec![
                command(&["echo", "Scheduled to restart {name}"]),
                command(&["echo", "restarted {name} by hand"]),
            ],
        };
        assert_eq!(
            chain.restart_from(daemon, 0).await.unwrap(),
            (0, "Scheduled to restart rgw.a".to_string())
        );
        assert_eq!(
            chain.restart_from(daemon, 1).await.unwrap(),
            (1, "command: restarted rgw.a by hand".to_string())
        );
        assert_eq!(
            chain.restart_from(daemon, 2).await.unwrap(),
            (0, "Scheduled to restart rgw.a".to_string())
        );
    }

    #[tokio::test]
    async fn the_chain_falls_back_to_the_next_backend_and_reports_every_failure() {
        let daemon = &crate::inventory::parse(r#"[{"daemon_name": "rgw.a"}]"#).unwrap()[0];
        let chain = Chain {
            backends: vec![
                command(&["sh", "-c", "echo mgr unreachable >&2; exit 110"]),
                command(&["echo", "restarted {name}"]),
            ],
        };
        // Said by a fallback: the answer names it.
        assert_eq!(
            chain.restart(daemon).await.unwrap(),
            "command: restarted rgw.a"
        );
        let failing = Chain {
            backends: vec![
                command(&["sh", "-c", "echo first >&2; exit 1"]),
                command(&["sh", "-c", "echo second >&2; exit 2"]),
            ],
        };
        let err = failing.restart(daemon).await.unwrap_err().to_string();
        assert!(
            err.contains("command: `sh -c 'echo first >&2; exit 1'` exited 1: first"),
            "{err}"
        );
        assert!(
            err.contains("; then command: `sh -c 'echo second >&2; exit 2'` exited 2: second"),
            "{err}"
        );
    }
}
