//! The lock that keeps overlapping `ceph-warden check` runs (a slow cron run meeting the next
//! one) from both restarting: an exclusive, non-blocking `flock` on `<state-directory>/check.lock`.
//!
//! The kernel releases a flock when its holder exits, however it exits, so a crashed run never
//! leaves a stale lock behind. The holder writes its pid into the file for the message the
//! loser prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct CheckLock {
    _flock: Flock<File>,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another ceph-warden check{} holds {path}; this run checks and restarts nothing", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held { path: PathBuf, holder: Option<u32> },
    #[error("cannot use {path}: {source} (left by a `check` run as another user, such as root? chown it to the user that runs `check`, or run `check` as that user; docs/troubleshooting.md)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CheckLock {
    /// Takes the lock in `state_directory`, creating the directory (mode 0750) if needed.
    pub fn acquire(state_directory: &Path) -> Result<Self, LockError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LockError::Io { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(state_directory)
            .map_err(io_err(state_directory))?;
        let path = state_directory.join("check.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .open(&path)
            .map_err(io_err(&path))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut flock) => {
                // Best effort: the pid only improves the other run's message.
                let _ = flock.set_len(0);
                let _ = writeln!(*flock, "{}", std::process::id());
                Ok(Self {
                    _flock: flock,
                    path,
                })
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.rewind();
                let _ = file.read_to_string(&mut text);
                Err(LockError::Held {
                    holder: text.trim().parse().ok(),
                    path,
                })
            }
            Err((_, errno)) => Err(LockError::Io {
                path,
                source: errno.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("ceph-warden-lock-{}", std::process::id()));
        let first = CheckLock::acquire(&dir).unwrap();
        let err = CheckLock::acquire(&dir).unwrap_err();
        match &err {
            LockError::Held { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("expected Held, got {other}"),
        }
        assert!(err.to_string().contains("restarts nothing"), "{err}");
        drop(first);
        let again = CheckLock::acquire(&dir).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
