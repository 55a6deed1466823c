//! The `ceph` command-line client, as the sidecar uses it: a binary, the operator's extra
//! arguments (`--conf`, `--name`, `--keyring`, ...), `--connect-timeout`, and a hard outer
//! timeout around the whole call.
//!
//! `ceph` exits with the errno of the failure (`Error EINVAL: ...` exits 22,
//! `Error ENOENT: No orchestrator configured ...` exits 2; tests/fixtures/orch-*.rc), and the
//! first stderr line says why, so both go into the error.

use std::time::Duration;

use crate::subprocess::{self, display_argv, stderr_tail, SubprocessError};

/// How to call `ceph`.
#[derive(Debug, Clone)]
pub struct CephCli {
    /// Path or name (looked up on `PATH`) of the `ceph` executable.
    pub binary: String,
    /// Arguments put before every command, e.g. `--conf /etc/ceph/ceph.conf`.
    pub args: Vec<String>,
    /// The whole call is killed after this long.
    pub timeout: Duration,
    /// Passed as `--connect-timeout` (whole seconds, at least 1), so the CLI gives up on
    /// unreachable monitors by itself before the outer timeout kills it.
    pub connect_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CephError {
    #[error("the ceph CLI was not found: {binary} (install ceph-common or pass --ceph PATH)")]
    NotFound { binary: String },
    #[error(transparent)]
    Run(SubprocessError),
    #[error("`{argv}` {exit}: {stderr}")]
    Failed {
        argv: String,
        /// "exited 2" or "was killed by signal 9".
        exit: String,
        /// The exit code, when there was one (the errno of the failure).
        code: Option<i32>,
        stderr: String,
    },
}

impl CephCli {
    /// The full argv for `ceph <command...>`.
    pub fn argv(&self, command: &[&str]) -> Vec<String> {
        let connect_secs = self.connect_timeout.as_secs_f64().ceil().max(1.0);
        let mut argv = Vec::with_capacity(self.args.len() + command.len() + 3);
        argv.push(self.binary.clone());
        argv.extend(self.args.iter().cloned());
        argv.push("--connect-timeout".to_string());
        argv.push(format!("{connect_secs:.0}"));
        argv.extend(command.iter().map(|w| (*w).to_string()));
        argv
    }

    /// Runs `ceph <command...>` and returns its stdout; a non-zero exit is an error carrying the
    /// exit code and the tail of stderr.
    pub async fn run(&self, command: &[&str]) -> Result<String, CephError> {
        let argv = self.argv(command);
        let captured = subprocess::run(&argv, self.timeout)
            .await
            .map_err(|err| match err {
                SubprocessError::NotFound { .. } => CephError::NotFound {
                    binary: self.binary.clone(),
                },
                other => CephError::Run(other),
            })?;
        if captured.status.success() {
            return Ok(String::from_utf8_lossy(&captured.stdout).into_owned());
        }
        let code = captured.status.code();
        let exit = match code {
            Some(code) => format!("exited {code}"),
            None => {
                use std::os::unix::process::ExitStatusExt;
                format!(
                    "was killed by signal {}",
                    captured.status.signal().unwrap_or(0)
                )
            }
        };
        let mut stderr = stderr_tail(&captured.stderr);
        if stderr.is_empty() {
            stderr = "(no error message)".to_string();
        }
        Err(CephError::Failed {
            argv: display_argv(&argv[..]),
            exit,
            code,
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> CephCli {
        CephCli {
            binary: "ceph".into(),
            args: vec!["--name".into(), "client.ceph-warden".into()],
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_millis(2500),
        }
    }

    #[test]
    fn global_args_come_before_the_command_and_the_connect_timeout_is_whole_seconds() {
        assert_eq!(
            cli().argv(&["orch", "ps", "--format", "json"]),
            [
                "ceph",
                "--name",
                "client.ceph-warden",
                "--connect-timeout",
                "3",
                "orch",
                "ps",
                "--format",
                "json"
            ]
        );
    }

    #[tokio::test]
    async fn a_failure_carries_exit_code_and_stderr() {
        // `sh -c` stands in for a ceph binary here: the argv shape is what is under test.
        let ceph = CephCli {
            binary: "sh".into(),
            args: vec![
                "-c".into(),
                "echo 'Error ENOENT: No orchestrator configured' >&2; exit 2".into(),
            ],
            ..cli()
        };
        let err = ceph.run(&["orch", "ps"]).await.unwrap_err();
        assert!(
            matches!(err, CephError::Failed { code: Some(2), .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("exited 2: Error ENOENT: No orchestrator configured"),
            "{err}"
        );
    }
}
