//! The cluster-wide restart lease (docs/design.md §8): at most `max-concurrent-restarts` RGWs of a
//! service restart at once across all hosts, through an exclusive, expiring RADOS advisory
//! lock (cls_lock) taken with the `rados` CLI.
//!
//! Measured semantics (the `rados` CLI of Ceph 16.2.15): `lock get` prints nothing and exits
//! 0 when taken; a failure exits 1 with `(16)` (held by another) or `(110)` (RADOS unavailable)
//! on stderr, read once into an [`Errno`] that every caller matches on. The locker is the client instance plus the cookie, so a CLI holder can neither
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
}

impl From<RadosError> for LeaseError {
    /// A `rados lock get` that failed other than with EBUSY: unreachable when RADOS did not
    /// answer in time (ETIMEDOUT, or the call was killed at its deadline).
    fn from(err: RadosError) -> Self {
        let unreachable = matches!(
            err,
            RadosError::Call(subprocess::SubprocessError::Timeout { .. })
                | RadosError::Refused {
                    errno: Errno::TimedOut,
                    ..
                }
        );
        if unreachable {
            LeaseError::Unreachable(err.to_string())
        } else {
            LeaseError::Unavailable(err.to_string())
        }
    }
}

/// The errno a refused `rados` call printed, as far as the lease tells them apart. `rados`
/// exits 1 whatever failed and says why on stderr: `ERROR: failed locking: (16) Device or
/// resource busy`, then `error 16: (16) Device or resource busy` (Ceph 16.2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// ENOENT (2): no such object, lock or locker (a lease already given back, a service never
    /// restarted), or no such pool.
    NotFound,
    /// EBUSY (16): another holder has the lock.
    Busy,
    /// ETIMEDOUT (110): RADOS did not answer within `--rados-osd-op-timeout`.
    TimedOut,
    /// Any other (EPERM from missing caps, EINVAL), or none printed (`failed to fetch mon
    /// config`).
    Other(Option<i32>),
}

impl Errno {
    /// The first `(N)` of `rados`'s stderr.
    pub fn of(stderr: &str) -> Self {
        let number = stderr.split('(').skip(1).find_map(|after| {
            let (digits, _) = after.split_once(')')?;
            digits.parse::<i32>().ok()
        });
        match number {
            Some(2) => Self::NotFound,
            Some(16) => Self::Busy,
            Some(110) => Self::TimedOut,
            other => Self::Other(other),
        }
    }
}

/// A `rados lock` call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RadosError {
    /// It could not be run, or did not finish within its deadline.
    #[error(transparent)]
    Call(#[from] subprocess::SubprocessError),
    /// It ran and refused: the command, its errno and the tail of its stderr.
    #[error("`rados lock {verb}`: {stderr}")]
    Refused {
        verb: &'static str,
        errno: Errno,
        stderr: String,
    },
}

impl RadosError {
    fn refused(verb: &'static str, stderr: &[u8]) -> Self {
        RadosError::Refused {
            verb,
            errno: Errno::of(&String::from_utf8_lossy(stderr)),
            stderr: stderr_tail(stderr),
        }
    }

    /// The errno `rados` refused with; `None` when it did not run or did not finish.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            RadosError::Refused { errno, .. } => Some(*errno),
            RadosError::Call(_) => None,
        }
    }

    /// `Ok` when the call refused with `errno`: what it was asked for holds already.
    fn ok_if(self, errno: Errno) -> Result<(), Self> {
        if self.errno() == Some(errno) {
            Ok(())
        } else {
            Err(self)
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

    /// `rados ... lock VERB ARGS...`; a non-zero exit is [`RadosError::Refused`], with the
    /// errno it printed.
    async fn lock(
        &self,
        verb: &'static str,
        args: &[&str],
    ) -> Result<subprocess::Captured, RadosError> {
        let mut object_args = vec!["lock", verb];
        object_args.extend_from_slice(args);
        let captured = subprocess::run(&self.base(&object_args), self.process_timeout()).await?;
        if captured.status.success() {
            Ok(captured)
        } else {
            Err(RadosError::refused(verb, &captured.stderr))
        }
    }

    /// `rados lock get OBJECT LOCK`: exclusive, tagged, expiring after `duration`.
    async fn lock_get(
        &self,
        object: &str,
        lock: &str,
        cookie: &str,
        description: &str,
        duration: Duration,
    ) -> Result<(), RadosError> {
        let seconds = duration.as_secs().max(1).to_string();
        let args = [
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
        ];
        self.lock("get", &args).await.map(drop)
    }

    /// `rados lock info OBJECT LOCK`: its JSON.
    async fn lock_info(&self, object: &str, lock: &str) -> Result<Vec<u8>, RadosError> {
        Ok(self.lock("info", &[object, lock]).await?.stdout)
    }

    /// `rados lock break OBJECT LOCK LOCKER` with the locker's cookie; a lock already gone
    /// (ENOENT) is fine.
    async fn lock_break(
        &self,
        object: &str,
        lock: &str,
        locker: &str,
        cookie: &str,
    ) -> Result<(), RadosError> {
        let args = [object, lock, locker, "--lock-cookie", cookie];
        match self.lock("break", &args).await {
            Ok(_) => Ok(()),
            Err(err) => err.ok_if(Errno::NotFound),
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
            match self
                .lock_get(&object, &slot, cookie, description, duration)
                .await
            {
                Ok(()) => {
                    return Ok(Held {
                        object,
                        slot,
                        cookie: cookie.to_string(),
                    })
                }
                // Held by another: try the next slot.
                Err(err) if err.errno() == Some(Errno::Busy) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(LeaseError::Busy {
            object,
            slots: self.slots.max(1),
        })
    }

    /// Gives the lease back: finds our locker by cookie and breaks it. A lease that already
    /// expired or is gone is fine.
    pub async fn release(&self, held: &Held) -> Result<(), RadosError> {
        let info = self.lock_info(&held.object, &held.slot).await?;
        let Some(locker) = locker_with_cookie(&info, &held.cookie) else {
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
    ) -> Result<(), RadosError> {
        let object = format!("restart-lease.{service}");
        match self.lock_get(&object, HOLD, cookie, reason, duration).await {
            Ok(()) => Ok(()),
            Err(err) => err.ok_if(Errno::Busy),
        }
    }

    /// Why every restart of `service` holds, if a canary restart failed (its description).
    pub async fn held_because(&self, service: &str) -> Result<Option<String>, RadosError> {
        match self
            .lock_info(&format!("restart-lease.{service}"), HOLD)
            .await
        {
            Ok(info) => Ok(hold_description(&info)),
            // No lease object yet: nothing was ever restarted, nothing holds.
            Err(err) => err.ok_if(Errno::NotFound).map(|()| None),
        }
    }

    /// Lifts the hold of `service`, whoever took it (the operator reset the canary).
    pub async fn lift_hold(&self, service: &str) -> Result<(), RadosError> {
        let object = format!("restart-lease.{service}");
        let info = self.lock_info(&object, HOLD).await?;
        for (locker, cookie) in lockers(&info) {
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

    /// `rados`'s stderr as measured on Ceph 16.2.15 (`lock get` while held, `lock info` and
    /// `lock break` of what is not there, missing caps, a stalled OSD, unreachable monitors).
    #[test]
    fn errno_kinds_from_real_rados_stderr() {
        let cases: [(&str, Errno); 7] = [
            (
                "ERROR: failed locking: (16) Device or resource busy\nerror 16: (16) Device or resource busy\n",
                Errno::Busy,
            ),
            (
                "ERROR: rados_lock_get_lock_info(): (2) No such file or directory\nerror 2: (2) No such file or directory\n",
                Errno::NotFound,
            ),
            (
                "ERROR: failed breaking lock: (2) No such file or directory\nerror 2: (2) No such file or directory\n",
                Errno::NotFound,
            ),
            (
                "error opening pool no-such-pool: (2) No such file or directory\n",
                Errno::NotFound,
            ),
            (
                "ERROR: failed locking: (110) Connection timed out\n",
                Errno::TimedOut,
            ),
            (
                "ERROR: failed locking: (1) Operation not permitted\nerror 1: (1) Operation not permitted\n",
                Errno::Other(Some(1)),
            ),
            (
                "failed to fetch mon config (--no-mon-config to skip)\n",
                Errno::Other(None),
            ),
        ];
        for (stderr, errno) in cases {
            assert_eq!(Errno::of(stderr), errno, "{stderr}");
            let refused = RadosError::refused("get", stderr.as_bytes());
            assert_eq!(refused.errno(), Some(errno));
        }
    }

    #[test]
    fn refused_calls_keep_their_message_and_only_what_holds_already_is_fine() {
        let busy = RadosError::refused(
            "get",
            b"ERROR: failed locking: (16) Device or resource busy\nerror 16: (16) Device or resource busy\n",
        );
        assert_eq!(
            busy.to_string(),
            "`rados lock get`: ERROR: failed locking: (16) Device or resource busy / error 16: (16) Device or resource busy"
        );
        assert!(busy.ok_if(Errno::Busy).is_ok(), "a hold already held holds");
        let gone = RadosError::refused(
            "break",
            b"ERROR: failed breaking lock: (2) No such file or directory\n",
        );
        assert!(gone.ok_if(Errno::NotFound).is_ok(), "a lock already gone");
        let denied = RadosError::refused(
            "break",
            b"ERROR: failed breaking lock: (1) Operation not permitted\n",
        );
        let denied = denied.ok_if(Errno::NotFound).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "`rados lock break`: ERROR: failed breaking lock: (1) Operation not permitted"
        );
    }

    #[test]
    fn only_a_silent_rados_is_unreachable() {
        let measured = LeaseError::from(RadosError::refused(
            "get",
            b"ERROR: failed locking: (110) Connection timed out\n",
        ));
        assert!(measured.rados_unreachable(), "{measured}");
        assert_eq!(
            measured.to_string(),
            "the restart lease cannot be taken, so nothing is restarted: `rados lock get`: ERROR: failed locking: (110) Connection timed out"
        );
        let hung = LeaseError::from(RadosError::Call(subprocess::SubprocessError::Timeout {
            argv: "rados -p .rgw.root lock get".into(),
            timeout: Duration::from_secs(12),
        }));
        assert!(hung.rados_unreachable(), "{hung}");
        let denied = LeaseError::from(RadosError::refused(
            "get",
            b"ERROR: failed locking: (1) Operation not permitted\n",
        ));
        assert!(!denied.rados_unreachable(), "{denied}");
        assert!(
            matches!(&denied, LeaseError::Unavailable(e) if e.contains("(1) Operation not permitted")),
            "{denied:?}"
        );
        let missing = LeaseError::from(RadosError::Call(subprocess::SubprocessError::NotFound {
            program: "rados".into(),
        }));
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
