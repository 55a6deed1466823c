//! The cluster-wide restart lease (docs/design.md §8): at most `max-concurrent-restarts` RGWs of a
//! service restart at once across all hosts, through an exclusive, expiring RADOS advisory
//! lock (cls_lock) taken with the `rados` CLI.
//!
//! Measured semantics (the `rados` CLI of Ceph 16.2.15): `lock get` prints nothing and exits
//! 0 when taken; a failure exits 1 with `(16)` (held by another) or `(110)` (RADOS unavailable)
//! on stderr. The locker is the client instance plus the cookie, so a CLI holder can neither
//! renew nor unlock: the duration is sized to the restart (restart-timeout + a margin), and
//! release is `lock info` → our entry by cookie → `lock break`. A holder that dies leaves a lock
//! that expires by itself. `--lock-duration` is always passed (0 means never expires), and so
//! are `--rados-osd-op-timeout` and `--client-mount-timeout` (without them a stalled cluster
//! hangs the call), under an outer process timeout.

use std::time::Duration;

use crate::subprocess::{self, stderr_tail};

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The `rados` executable.
    pub rados: String,
    /// Arguments before every call (`--conf`, `--name`, `--keyring`: the ceph section's).
    pub args: Vec<String>,
    pub pool: String,
    pub namespace: String,
    /// Lock names `slot-0` .. `slot-N-1`.
    pub slots: u32,
    /// `--rados-osd-op-timeout` and `--client-mount-timeout`.
    pub op_timeout: Duration,
}

/// A lease this process holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub object: String,
    pub slot: String,
    pub cookie: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeaseError {
    #[error("every restart slot of {object} is held: another {slots} restart(s) of the service are under way")]
    Busy { object: String, slots: u32 },
    /// RADOS did not answer (errno 110, or the call outlived its deadline): the cluster is
    /// sick.
    #[error("the restart lease cannot be taken, so nothing is restarted: {0}")]
    Unreachable(String),
    /// Any other failure (no `rados`, denied caps): a configuration problem.
    #[error("the restart lease cannot be taken, so nothing is restarted: {0}")]
    Unavailable(String),
}

impl LeaseError {
    pub fn rados_unreachable(&self) -> bool {
        matches!(self, LeaseError::Unreachable(_))
    }

    /// A `rados` call that could not be made or did not finish.
    fn call_failed(err: subprocess::SubprocessError) -> LeaseError {
        match err {
            subprocess::SubprocessError::Timeout { .. } => LeaseError::Unreachable(err.to_string()),
            _ => LeaseError::Unavailable(err.to_string()),
        }
    }

    /// A `rados lock get` that failed with this stderr, other than "(16)" (held).
    fn lock_refused(stderr: &[u8]) -> LeaseError {
        let why = format!("`rados lock get`: {}", stderr_tail(stderr));
        if String::from_utf8_lossy(stderr).contains("(110)") {
            LeaseError::Unreachable(why)
        } else {
            LeaseError::Unavailable(why)
        }
    }
}

impl LeaseSettings {
    fn base(&self, object_args: &[&str]) -> Vec<String> {
        let timeout = self.op_timeout.as_secs().max(1).to_string();
        let mut argv = vec![self.rados.clone()];
        argv.extend(self.args.iter().cloned());
        argv.extend(
            [
                "-p",
                &self.pool,
                "-N",
                &self.namespace,
                "--rados-osd-op-timeout",
                &timeout,
                "--client-mount-timeout",
                &timeout,
            ]
            .map(String::from),
        );
        argv.extend(object_args.iter().map(|a| (*a).to_string()));
        argv
    }

    /// The whole call, mount and op timeouts included, is killed after this.
    fn process_timeout(&self) -> Duration {
        self.op_timeout * 2 + Duration::from_secs(2)
    }

    /// `rados lock get OBJECT LOCK`: exclusive, tagged, expiring after `duration`.
    async fn lock_get(
        &self,
        object: &str,
        lock: &str,
        cookie: &str,
        description: &str,
        duration: Duration,
    ) -> Result<subprocess::Captured, subprocess::SubprocessError> {
        let seconds = duration.as_secs().max(1).to_string();
        let argv = self.base(&[
            "lock",
            "get",
            object,
            lock,
            "--lock-type",
            "exclusive",
            "--lock-duration",
            &seconds,
            "--lock-cookie",
            cookie,
            "--lock-tag",
            "ceph-warden",
            "--lock-description",
            description,
        ]);
        subprocess::run(&argv, self.process_timeout()).await
    }

    /// `rados lock info OBJECT LOCK`; a failed call is an error naming it.
    async fn lock_info(&self, object: &str, lock: &str) -> Result<subprocess::Captured, String> {
        let captured = subprocess::run(
            &self.base(&["lock", "info", object, lock]),
            self.process_timeout(),
        )
        .await
        .map_err(|err| err.to_string())?;
        if captured.status.success() {
            Ok(captured)
        } else {
            Err(format!(
                "`rados lock info`: {}",
                stderr_tail(&captured.stderr)
            ))
        }
    }

    /// `rados lock break OBJECT LOCK LOCKER` with the locker's cookie; a lock already gone is
    /// fine.
    async fn lock_break(
        &self,
        object: &str,
        lock: &str,
        locker: &str,
        cookie: &str,
    ) -> Result<(), String> {
        let argv = self.base(&[
            "lock",
            "break",
            object,
            lock,
            locker,
            "--lock-cookie",
            cookie,
        ]);
        let captured = subprocess::run(&argv, self.process_timeout())
            .await
            .map_err(|err| err.to_string())?;
        if captured.status.success() || String::from_utf8_lossy(&captured.stderr).contains("(2)") {
            Ok(())
        } else {
            Err(format!(
                "`rados lock break`: {}",
                stderr_tail(&captured.stderr)
            ))
        }
    }

    /// Takes a free slot of `restart-lease.<service>` for `duration`.
    pub async fn acquire(
        &self,
        service: &str,
        cookie: &str,
        description: &str,
        duration: Duration,
    ) -> Result<Held, LeaseError> {
        let object = format!("restart-lease.{service}");
        for slot in 0..self.slots.max(1) {
            let slot = format!("slot-{slot}");
            let captured = self
                .lock_get(&object, &slot, cookie, description, duration)
                .await
                .map_err(LeaseError::call_failed)?;
            if captured.status.success() {
                return Ok(Held {
                    object,
                    slot,
                    cookie: cookie.to_string(),
                });
            }
            if !String::from_utf8_lossy(&captured.stderr).contains("(16)") {
                return Err(LeaseError::lock_refused(&captured.stderr));
            }
        }
        Err(LeaseError::Busy {
            object,
            slots: self.slots.max(1),
        })
    }

    /// Gives the lease back: finds our locker by cookie and breaks it. A lease that already
    /// expired or is gone is fine.
    pub async fn release(&self, held: &Held) -> Result<(), String> {
        let info = self.lock_info(&held.object, &held.slot).await?;
        let Some(locker) = locker_with_cookie(&info.stdout, &held.cookie) else {
            return Ok(());
        };
        self.lock_break(&held.object, &held.slot, &locker, &held.cookie)
            .await
    }
}

/// The lock name of a service's hold, on the same object as its restart slots.
const HOLD: &str = "canary-hold";

impl LeaseSettings {
    /// Holds every restart of `service` for `duration`, saying `reason` (the lock's
    /// description): a canary restart did not help. Already held (by another canary) is fine.
    pub async fn hold(
        &self,
        service: &str,
        cookie: &str,
        reason: &str,
        duration: Duration,
    ) -> Result<(), String> {
        let object = format!("restart-lease.{service}");
        let captured = self
            .lock_get(&object, HOLD, cookie, reason, duration)
            .await
            .map_err(|err| err.to_string())?;
        if captured.status.success() || String::from_utf8_lossy(&captured.stderr).contains("(16)") {
            Ok(())
        } else {
            Err(format!(
                "`rados lock get`: {}",
                stderr_tail(&captured.stderr)
            ))
        }
    }

    /// Why every restart of `service` holds, if a canary restart failed (its description).
    pub async fn held_because(&self, service: &str) -> Result<Option<String>, String> {
        match self
            .lock_info(&format!("restart-lease.{service}"), HOLD)
            .await
        {
            Ok(info) => Ok(hold_description(&info.stdout)),
            // No lease object yet: nothing was ever restarted, nothing holds.
            Err(err) if err.contains("(2)") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Lifts the hold of `service`, whoever took it (the operator reset the canary).
    pub async fn lift_hold(&self, service: &str) -> Result<(), String> {
        let object = format!("restart-lease.{service}");
        let info = self.lock_info(&object, HOLD).await?;
        for (locker, cookie) in lockers(&info.stdout) {
            self.lock_break(&object, HOLD, &locker, &cookie).await?;
        }
        Ok(())
    }
}

/// Every `(locker, cookie)` of a `lock info` reply.
fn lockers(lock_info: &[u8]) -> Vec<(String, String)> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(lock_info) else {
        return Vec::new();
    };
    value
        .get("lockers")
        .and_then(|l| l.as_array())
        .map(|lockers| {
            lockers
                .iter()
                .filter_map(|l| {
                    Some((
                        l.get("name")?.as_str()?.to_string(),
                        l.get("cookie")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The description of the first locker of a `lock info` reply: why the service holds.
fn hold_description(lock_info: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(lock_info).ok()?;
    let locker = value.get("lockers")?.as_array()?.first()?;
    Some(
        locker
            .get("description")
            .and_then(|d| d.as_str())
            .filter(|d| !d.is_empty())
            .unwrap_or("a canary restart did not help")
            .to_string(),
    )
}

/// The locker name (`client.4164`) holding `cookie` in a `lock info` reply.
pub fn locker_with_cookie(lock_info: &[u8], cookie: &str) -> Option<String> {
    lockers(lock_info)
        .into_iter()
        .find(|(_, c)| c == cookie)
        .map(|(locker, _)| locker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_silent_rados_is_unreachable() {
        let measured =
            LeaseError::lock_refused(b"ERROR: failed locking: (110) Connection timed out\n");
        assert!(measured.rados_unreachable(), "{measured}");
        let hung = LeaseError::call_failed(subprocess::SubprocessError::Timeout {
            argv: "rados -p .rgw.root lock get".into(),
            timeout: Duration::from_secs(12),
        });
        assert!(hung.rados_unreachable(), "{hung}");
        let denied =
            LeaseError::lock_refused(b"ERROR: failed locking: (1) Operation not permitted\n");
        assert!(!denied.rados_unreachable(), "{denied}");
        let missing = LeaseError::call_failed(subprocess::SubprocessError::NotFound {
            program: "rados".into(),
        });
        assert!(!missing.rados_unreachable(), "{missing}");
        let busy = LeaseError::Busy {
            object: "restart-lease.rgw.lab".into(),
            slots: 1,
        };
        assert!(!busy.rados_unreachable());
    }

    #[test]
    fn a_hold_is_read_from_its_description() {
        let info = br#"{"name":"canary-hold","type":"exclusive","tag":"ceph-warden","lockers":[{"name":"client.4170","cookie":"hostA:1:1","description":"rgw.a on host-a: the canary restart did not bring it back","expiration":"2026-12-01T14:30:00.0+0000","addr":"127.0.0.1:0/1"}]}"#;
        assert_eq!(
            hold_description(info).as_deref(),
            Some("rgw.a on host-a: the canary restart did not bring it back")
        );
        assert_eq!(
            lockers(info),
            vec![("client.4170".to_string(), "hostA:1:1".to_string())]
        );
        assert_eq!(
            hold_description(br#"{"name":"canary-hold","lockers":[]}"#),
            None
        );
        assert_eq!(hold_description(b"garbage"), None);
    }

    #[test]
    fn our_locker_is_found_by_cookie_in_the_real_lock_info() {
        let info = br#"{"name":"restart","type":"exclusive","tag":"warden","lockers":[{"name":"client.4164","cookie":"hostA","description":"ceph-warden hostA restarting rgw.a","expiration":"2026-11-24T18:46:45.710628+0000","addr":"127.0.0.1:0/1830473400"}]}"#;
        assert_eq!(
            locker_with_cookie(info, "hostA").as_deref(),
            Some("client.4164")
        );
        assert_eq!(locker_with_cookie(info, "hostB"), None);
        assert_eq!(locker_with_cookie(br#"{"lockers":[]}"#, "hostA"), None);
    }

    #[test]
    fn every_call_is_bounded_and_always_expires() {
        let settings = LeaseSettings {
            rados: "rados".into(),
            args: vec!["--conf".into(), "/etc/ceph/ceph.conf".into()],
            pool: ".rgw.root".into(),
            namespace: "ceph-warden".into(),
            slots: 1,
            op_timeout: Duration::from_secs(5),
        };
        let argv = settings.base(&["lock", "info", "o", "slot-0"]).join(" ");
        assert_eq!(
            argv,
            "rados --conf /etc/ceph/ceph.conf -p .rgw.root -N ceph-warden --rados-osd-op-timeout 5 --client-mount-timeout 5 lock info o slot-0"
        );
        assert_eq!(settings.process_timeout(), Duration::from_secs(12));
    }
}
