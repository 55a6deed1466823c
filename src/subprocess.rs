//! Runs external commands the safe way: an argv (never a shell), no stdin, stdout and stderr
//! captured up to a bound, and a deadline after which the command's whole process group is
//! killed and reaped.
//!
//! The `ceph` and `rados` CLIs hang rather than fail (measured on Ceph 16.2.15): `ceph orch ps`
//! without map-read mon caps printed nothing until killed at 20 s, `rados lock` on a stalled OSD
//! without `--rados-osd-op-timeout` until killed at 10 s, and the default wait for unreachable
//! monitors is 300 s. So every call has a timeout; and `ceph` may itself spawn children, so the
//! kill goes to the process group, not only to the direct child.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// How much of each of stdout and stderr is kept. `ceph orch ps` on a large cluster prints a
/// few hundred KiB; anything beyond this is read and dropped so the child never blocks on a pipe.
pub const MAX_OUTPUT: usize = 8 * 1024 * 1024;

/// What a finished command left behind.
#[derive(Debug)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubprocessError {
    #[error("{program}: command not found")]
    NotFound { program: String },
    #[error("{program}: cannot start: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{argv}` did not finish within {}; killed it", humantime::format_duration(*.timeout))]
    Timeout { argv: String, timeout: Duration },
    #[error("`{argv}`: waiting for it failed: {source}")]
    Wait {
        argv: String,
        source: std::io::Error,
    },
}

/// Renders an argv for messages, quoting words that need it.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `argv` and waits for it, at most `timeout`.
pub async fn run(argv: &[String], timeout: Duration) -> Result<Captured, SubprocessError> {
    let mut child = spawn(argv)?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let finished = tokio::time::timeout(timeout, async {
        let (out, err, status) =
            tokio::join!(read_bounded(stdout), read_bounded(stderr), child.wait());
        (out, err, status)
    })
    .await;

    match finished {
        Ok((stdout, stderr, Ok(status))) => Ok(Captured {
            status,
            stdout,
            stderr,
        }),
        Ok((_, _, Err(source))) => Err(SubprocessError::Wait {
            argv: display_argv(argv),
            source,
        }),
        Err(_elapsed) => {
            kill_and_reap(&mut child, pid).await;
            Err(SubprocessError::Timeout {
                argv: display_argv(argv),
                timeout,
            })
        }
    }
}

/// Starts `argv` in a process group of its own, stdin closed, stdout and stderr piped.
fn spawn(argv: &[String]) -> Result<Child, SubprocessError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(SubprocessError::NotFound {
            program: String::new(),
        });
    };
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill everything it spawned.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SubprocessError::NotFound {
                    program: program.clone(),
                }
            } else {
                SubprocessError::Spawn {
                    program: program.clone(),
                    source,
                }
            }
        })
}

/// Kills the child's whole process group, then reaps the child.
async fn kill_and_reap(child: &mut Child, pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // The group may already be gone (the child exited but a grandchild kept the
        // pipes open, or everything exited just now): ESRCH is fine.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    // Reap it so no zombie is left; SIGKILL cannot be ignored, so this is quick.
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// Reads a pipe to its end, keeping at most [`MAX_OUTPUT`] bytes. Read errors end the read:
/// the exit status is what matters, the output only explains it.
async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buf = [0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// The last non-empty lines of a command's stderr, joined into one line for an error message.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    let mut joined = tail.join(" / ");
    if joined.len() > 500 {
        let mut cut = 500;
        while !joined.is_char_boundary(cut) {
            cut -= 1;
        }
        joined.truncate(cut);
        joined.push_str("...");
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_quoted_only_where_needed() {
        let argv = ["ceph", "orch", "ps", "--format", "json", "a b", ""].map(String::from);
        assert_eq!(display_argv(&argv), "ceph orch ps --format json 'a b' ''");
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let stderr = b"Error EINVAL: Traceback (most recent call last):\n  File x\n\n  line 2\nAssertionError: node-exporter unsupported\n\n";
        assert_eq!(
            stderr_tail(stderr),
            "File x / line 2 / AssertionError: node-exporter unsupported"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_not_found() {
        let argv = ["/nonexistent/ceph-warden-test".to_string()];
        let err = run(&argv, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, SubprocessError::NotFound { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_at_the_deadline_and_reaped() {
        let pidfile = std::env::temp_dir().join(format!("ceph-warden-hang-{}", std::process::id()));
        let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
        let argv = ["sh".to_string(), "-c".to_string(), script];
        let err = run(&argv, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, SubprocessError::Timeout { .. }), "{err}");
        assert!(
            err.to_string().contains("did not finish within 300ms"),
            "{err}"
        );
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        std::fs::remove_file(&pidfile).unwrap();
        // We are its parent: had we not reaped it, it would still be here as a zombie.
        assert!(
            !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "pid {} is left behind",
            pid.trim()
        );
    }

    #[tokio::test]
    async fn output_and_status_are_captured() {
        let argv = ["sh", "-c", "echo out; echo err >&2; exit 22"].map(String::from);
        let captured = run(&argv, Duration::from_secs(5)).await.unwrap();
        assert_eq!(captured.status.code(), Some(22));
        assert_eq!(captured.stdout, b"out\n");
        assert_eq!(captured.stderr, b"err\n");
    }
}
