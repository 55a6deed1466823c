//! The `ceph-orch` backend: `ceph orch daemon restart <type>.<id>`, one daemon at a time.
//!
//! Never `ceph orch restart <service>`: that restarts every daemon of the service at once,
//! which is the outage, not the cure.

use super::{OrchestrateError, Orchestrator};
use crate::ceph::{CephCli, CephError};
use crate::inventory::Daemon;

/// What cephadm 20.2 (and later) adds to its ok-to-stop refusal of an RGW restart (exit 22:
/// `Error EINVAL: Unable to restart daemon rgw.X: WARNING: Removing RGW daemons can cause
/// clients to lose connectivity. ...`). Releases without `--force` on `orch daemon restart`
/// (16.2, 18.2) never print it, so `--force` only ever goes to one that accepts it.
pub(super) const FORCE_BYPASSES: &str = "can be bypassed with the --force flag";

#[derive(Debug, Clone)]
pub struct CephOrch {
    pub cli: CephCli,
}

impl Orchestrator for CephOrch {
    /// On cephadm's ok-to-stop refusal the restart is asked again with `--force`: the check
    /// guards against taking the last RGWs of a service down without an ingress, and the
    /// sidecar's own rules already keep at most `max-concurrent-restarts` of a service
    /// restarting (the daemon it restarts is failed, or drained for a planned restart).
    async fn restart(&self, daemon: &Daemon) -> Result<String, OrchestrateError> {
        let restart = ["orch", "daemon", "restart", daemon.name.as_str()];
        match self.cli.run(&restart).await {
            Ok(stdout) => Ok(stdout.trim().to_string()),
            Err(CephError::Failed { stderr, .. }) if stderr.contains(FORCE_BYPASSES) => {
                tracing::info!(
                    "cephadm's ok-to-stop refused the restart ({stderr}); asking again with --force"
                );
                let stdout = self.cli.run(&[&restart[..], &["--force"]].concat()).await?;
                Ok(format!(
                    "{} (with --force: ok-to-stop refused it)",
                    stdout.trim()
                ))
            }
            Err(err) => Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `sh -c SCRIPT ceph ...`: the script sees the sidecar's argv as `$@`.
    fn orch(script: &str) -> CephOrch {
        CephOrch {
            cli: CephCli {
                binary: "sh".into(),
                args: vec!["-c".into(), script.into(), "ceph".into()],
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
            },
        }
    }

    fn rgw_a() -> Daemon {
        crate::inventory::parse(r#"[{"daemon_name": "rgw.a"}]"#).unwrap()[0].clone()
    }

    #[tokio::test]
    async fn an_ok_to_stop_refusal_is_asked_again_with_force_and_only_then() {
        // cephadm 20.2 without an ingress: refused unless --force (the text of its refusal).
        let release_20 = orch(
            r#"case " $* " in *" --force "*) echo "Scheduled to restart rgw.a on host 'h1'"; exit 0;; esac
echo "Error EINVAL: Unable to restart daemon rgw.a: WARNING: Removing RGW daemons can cause clients to lose connectivity." >&2
echo "Note: Warnings can be bypassed with the --force flag" >&2
exit 22"#,
        );
        assert_eq!(
            release_20.restart(&rgw_a()).await.unwrap(),
            "Scheduled to restart rgw.a on host 'h1' (with --force: ok-to-stop refused it)"
        );
        // 16.2 and 18.2 have no --force (the real CLI rejects the word): any other refusal is
        // the answer, and --force is never sent.
        let release_18 = orch(
            r#"case " $* " in *" --force "*) echo "Invalid command: unused arguments: ['--force']" >&2; exit 22;; esac
echo "Error EINVAL: Unable to find rgw.a daemon(s)" >&2
exit 22"#,
        );
        let err = release_18.restart(&rgw_a()).await.unwrap_err();
        assert!(
            err.to_string()
                .ends_with("exited 22: Error EINVAL: Unable to find rgw.a daemon(s)"),
            "{err}"
        );
        assert!(err.not_taken(), "an unknown daemon is no attempt");
    }

    #[tokio::test]
    async fn refusals_and_a_cli_that_times_out_are_not_taken_other_failures_are_attempts() {
        let answer = |stderr: &str, code: u8| orch(&format!("echo '{stderr}' >&2; exit {code}"));
        for (stderr, code, not_taken) in [
            ("no valid command found; 10 closest matches:", 22, true),
            ("Error ENOENT: Module not found", 2, true),
            ("Error EINVAL: Unable to find rgw.a daemon(s)", 22, true),
            ("Error EACCES: access denied", 13, false),
            (
                "Error ENOENT: No orchestrator configured (try `ceph orch set backend`)",
                2,
                false,
            ),
        ] {
            let err = answer(stderr, code).restart(&rgw_a()).await.unwrap_err();
            assert_eq!(err.not_taken(), not_taken, "{err}");
        }
        // No active mgr: the CLI blocks until the timeout kills it.
        let mut hung = orch("sleep 30");
        hung.cli.timeout = Duration::from_millis(300);
        let err = hung.restart(&rgw_a()).await.unwrap_err();
        assert!(err.not_taken(), "{err}");
    }
}
