//! The cluster-wide restart lease (DESIGN.md §8): at most `max-concurrent-restarts` RGWs of a
//! service restart at once across all hosts, through an exclusive, expiring RADOS advisory
//! lock (cls_lock) taken with the `rados` CLI.
//!
//! Measured semantics (facts/rados-lock-caps-stall.md §1): `lock get` prints nothing and exits
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
    #[error("the restart lease cannot be taken, so nothing is restarted: {0}")]
    Unavailable(String),
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

    /// Takes a free slot of `restart-lease.<service>` for `duration`.
    pub async fn acquire(
        &self,
        service: &str,
        cookie: &str,
        description: &str,
        duration: Duration,
    ) -> Result<Held, LeaseError> {
        let object = format!("restart-lease.{service}");
        let seconds = duration.as_secs().max(1).to_string();
        for slot in 0..self.slots.max(1) {
            let slot = format!("slot-{slot}");
            let argv = self.base(&[
                "lock",
                "get",
                &object,
                &slot,
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
            let captured = subprocess::run(&argv, self.process_timeout())
                .await
                .map_err(|err| LeaseError::Unavailable(err.to_string()))?;
            if captured.status.success() {
                return Ok(Held {
                    object,
                    slot,
                    cookie: cookie.to_string(),
                });
            }
            let stderr = String::from_utf8_lossy(&captured.stderr);
            if !stderr.contains("(16)") {
                return Err(LeaseError::Unavailable(format!(
                    "`rados lock get`: {}",
                    stderr_tail(&captured.stderr)
                )));
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
        let info = self.base(&["lock", "info", &held.object, &held.slot]);
        let captured = subprocess::run(&info, self.process_timeout())
            .await
            .map_err(|err| err.to_string())?;
        if !captured.status.success() {
            return Err(format!(
                "`rados lock info`: {}",
                stderr_tail(&captured.stderr)
            ));
        }
        let Some(locker) = locker_with_cookie(&captured.stdout, &held.cookie) else {
            return Ok(());
        };
        let argv = self.base(&[
            "lock",
            "break",
            &held.object,
            &held.slot,
            &locker,
            "--lock-cookie",
            &held.cookie,
        ]);
        let captured = subprocess::run(&argv, self.process_timeout())
            .await
            .map_err(|err| err.to_string())?;
        let stderr = String::from_utf8_lossy(&captured.stderr);
        if captured.status.success() || stderr.contains("(2)") {
            Ok(())
        } else {
            Err(format!(
                "`rados lock break`: {}",
                stderr_tail(&captured.stderr)
            ))
        }
    }
}

/// The locker name (`client.4164`) holding `cookie` in a `lock info` reply.
pub fn locker_with_cookie(lock_info: &[u8], cookie: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(lock_info).ok()?;
    value
        .get("lockers")?
        .as_array()?
        .iter()
        .find(|l| l.get("cookie").and_then(|c| c.as_str()) == Some(cookie))?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

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
