//! [`RawConfig`] to [`Config`]: each section validated in turn, every error naming the key at fault.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::ceph::CephCli;
use crate::machine::Policy;

use super::raw::default_probes;
use super::raw::{RawCeph, RawCheck, RawConfig, RawDaemonType, RawLease};
use super::run::run_from;
use super::s3::s3_from;
use super::{names, parse_duration, CheckConfig, Config, ConfigError, DaemonTypeConfig, ProbeStep};

impl Config {
    /// Validates each section in turn; the first error found is the one reported.
    pub(super) fn try_from_raw(raw: RawConfig, origin: &str) -> Result<Self, ConfigError> {
        let at = Origin(origin);
        let ceph = ceph_from(&raw.ceph, at)?;
        let check = check_from(&raw.check, at)?;
        let agent_inter = at.duration("run.agent-inter", &raw.run.agent_inter)?;
        let daemon_types = daemon_types_from(&raw, agent_inter, at)?;
        let s3 = s3_from(&raw.s3, at)?;
        let lease = lease_from(&raw.lease, &ceph.args, at)?;
        let run = run_from(&raw, agent_inter, at)?;
        Ok(Self {
            origin: origin.to_string(),
            state_directory: raw.state_directory,
            ceph,
            check,
            daemon_types,
            run,
            s3,
            lease,
        })
    }
}

/// Where the configuration came from: every error names it, with the key at fault.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin<'a>(pub(super) &'a str);

impl Origin<'_> {
    pub(super) fn invalid(self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.0.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn duration(self, key: &str, text: &str) -> Result<Duration, ConfigError> {
        parse_duration(text).map_err(|message| self.invalid(key, message))
    }

    pub(super) fn listen_addr(self, key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
        listen_addr(text).map_err(|message| self.invalid(key, message))
    }

    pub(super) fn at_least_one(self, key: &str, value: u32) -> Result<(), ConfigError> {
        if value == 0 {
            return Err(self.invalid(key, "must be at least 1"));
        }
        Ok(())
    }

    pub(super) fn known_type(self, key: &str, name: &str) -> Result<(), ConfigError> {
        known_type(name).map_err(|message| self.invalid(key, message))
    }
}

/// `[ceph]`.
fn ceph_from(raw: &RawCeph, at: Origin<'_>) -> Result<CephCli, ConfigError> {
    if raw.binary.trim().is_empty() {
        return Err(at.invalid("ceph.binary", "must not be empty"));
    }
    Ok(CephCli {
        binary: raw.binary.clone(),
        args: raw.args.clone(),
        timeout: at.duration("ceph.timeout", &raw.timeout)?,
        connect_timeout: at.duration("ceph.connect-timeout", &raw.connect_timeout)?,
    })
}

/// `[check]`.
fn check_from(raw: &RawCheck, at: Origin<'_>) -> Result<CheckConfig, ConfigError> {
    if raw.types.iter().any(|t| t.trim().is_empty()) {
        return Err(at.invalid("check.types", "a type must not be empty"));
    }
    for daemon_type in &raw.types {
        at.known_type("check.types", daemon_type)?;
    }
    at.at_least_one("check.max-concurrent-probes", raw.max_concurrent_probes)?;
    if raw.accept_status.is_empty() {
        return Err(at.invalid("check.accept-status", "must list at least one status"));
    }
    if let Some(bad) = raw.accept_status.iter().find(|s| !(100..=599).contains(*s)) {
        return Err(at.invalid(
            "check.accept-status",
            format!("{bad} is not an HTTP status"),
        ));
    }
    Ok(CheckConfig {
        types: raw.types.clone(),
        host: raw.host.clone().filter(|h| !h.trim().is_empty()),
        timeout: at.duration("check.timeout", &raw.timeout)?,
        max_restarts: raw.max_restarts,
        max_concurrent_probes: raw.max_concurrent_probes,
        accept_status: raw.accept_status.clone(),
    })
}

/// Every `[daemon-types.<type>]`.
fn daemon_types_from(
    raw: &RawConfig,
    agent_inter: Duration,
    at: Origin<'_>,
) -> Result<BTreeMap<String, DaemonTypeConfig>, ConfigError> {
    let s3_configured = raw.s3.credentials_file.is_some();
    raw.daemon_types
        .iter()
        .map(|(name, raw_type)| {
            let validated = daemon_type_from(name, raw_type, s3_configured, agent_inter, at)?;
            Ok((name.clone(), validated))
        })
        .collect()
}

/// One `[daemon-types.<name>]`.
fn daemon_type_from(
    name: &str,
    raw: &RawDaemonType,
    s3_configured: bool,
    agent_inter: Duration,
    at: Origin<'_>,
) -> Result<DaemonTypeConfig, ConfigError> {
    let key = |k: &str| format!("daemon-types.{name}.{k}");
    at.known_type(&format!("daemon-types.{name}"), name)?;
    if !raw.http_path.starts_with('/') {
        return Err(at.invalid(
            &key("http-path"),
            format!("{:?} must start with /", raw.http_path),
        ));
    }
    let probes = probes_from(name, raw.probes.as_deref(), s3_configured, at)?;
    let rados_stall_after = at.duration(&key("rados-stall-after"), &raw.rados_stall_after)?;
    let policy = policy_from(name, raw, agent_inter, at)?;
    for (k, value) in [
        ("fall", policy.fall),
        ("rise", policy.rise),
        ("max-restarts", policy.max_restarts),
    ] {
        at.at_least_one(&key(k), value)?;
    }
    Ok(DaemonTypeConfig {
        http_path: raw.http_path.clone(),
        probes,
        admin_socket: raw.admin_socket.clone(),
        rados_stall_after,
        policy,
    })
}

/// The probe chain `probes` of `[daemon-types.<name>]` names, or the type's default when unset.
fn probes_from(
    name: &str,
    steps: Option<&[String]>,
    s3_configured: bool,
    at: Origin<'_>,
) -> Result<Vec<ProbeStep>, ConfigError> {
    let Some(steps) = steps else {
        return Ok(default_probes(name));
    };
    let key = format!("daemon-types.{name}.probes");
    let probes = steps
        .iter()
        .map(|step| match step.as_str() {
            "http" => Ok(ProbeStep::Http),
            "asok" => Ok(ProbeStep::Asok),
            "s3" if s3_configured => Ok(ProbeStep::S3),
            "s3" => Err(at.invalid(&key, "\"s3\" needs [s3] credentials-file")),
            other => Err(at.invalid(
                &key,
                format!("{other:?}: expected \"http\", \"s3\" or \"asok\""),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if probes.is_empty() {
        return Err(at.invalid(&key, "list at least one probe"));
    }
    Ok(probes)
}

/// The policy of a type the config does not mention: the design's defaults.
pub fn default_policy(daemon_type: &str, agent_inter: Duration) -> Policy {
    Policy::defaults(daemon_type == "rgw", agent_inter)
}

/// `[daemon-types.<daemon_type>]`'s hysteresis, restart and drain keys over the type's defaults.
fn policy_from(
    daemon_type: &str,
    raw: &RawDaemonType,
    agent_inter: Duration,
    at: Origin<'_>,
) -> Result<Policy, ConfigError> {
    let defaults = default_policy(daemon_type, agent_inter);
    let or = |key: &str, text: &Option<String>, default: Duration| match text {
        Some(text) => at.duration(&format!("daemon-types.{daemon_type}.{key}"), text),
        None => Ok(default),
    };
    Ok(Policy {
        fall: raw.fall.unwrap_or(defaults.fall),
        rise: raw.rise.unwrap_or(defaults.rise),
        load_balanced: raw.load_balanced.unwrap_or(defaults.load_balanced),
        drain_confirm_timeout: or(
            "drain-confirm-timeout",
            &raw.drain_confirm_timeout,
            defaults.drain_confirm_timeout,
        )?,
        drain_timeout: or("drain-timeout", &raw.drain_timeout, defaults.drain_timeout)?,
        restart_timeout: or(
            "restart-timeout",
            &raw.restart_timeout,
            defaults.restart_timeout,
        )?,
        startup_grace: or("startup-grace", &raw.startup_grace, defaults.startup_grace)?,
        max_restarts: raw.max_restarts.unwrap_or(defaults.max_restarts),
        restart_window: or(
            "restart-window",
            &raw.restart_window,
            defaults.restart_window,
        )?,
        backoff_initial: or("backoff", &raw.backoff, defaults.backoff_initial)?,
        backoff_max: or("backoff-max", &raw.backoff_max, defaults.backoff_max)?,
        peer_ttl: defaults.peer_ttl,
        prove_by_start_time: defaults.prove_by_start_time,
        // `run.kill-hung`, set by `run` (a `check` kills nothing).
        kill_hung: defaults.kill_hung,
    })
}

/// `[lease]`: `None` when disabled. `rados` takes the same cephx arguments as `ceph`.
fn lease_from(
    raw: &RawLease,
    ceph_args: &[String],
    at: Origin<'_>,
) -> Result<Option<crate::lease::LeaseSettings>, ConfigError> {
    at.at_least_one("lease.max-concurrent-restarts", raw.max_concurrent_restarts)?;
    if !raw.enabled {
        return Ok(None);
    }
    Ok(Some(crate::lease::LeaseSettings {
        rados: raw.rados.clone(),
        args: ceph_args.to_vec(),
        pool: raw.pool.clone(),
        namespace: raw.namespace.clone(),
        slots: raw.max_concurrent_restarts,
        op_timeout: at.duration("lease.op-timeout", &raw.op_timeout)?,
    }))
}

fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|err| {
        format!("{text:?} is not an address:port ({err}); write it like \"127.0.0.1:9481\" or \"[::1]:9481\"")
    })
}

/// `Err` naming `name` and the nearest known type when `name` is not one ceph-warden probes.
pub(super) fn known_type(name: &str) -> Result<(), String> {
    if names::DAEMON_TYPES.contains(&name) {
        return Ok(());
    }
    Err(names::unknown(
        name,
        "a daemon type ceph-warden can probe",
        names::DAEMON_TYPES,
        &format!("known: {}", names::DAEMON_TYPES.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::error_of;

    #[test]
    fn bad_values_name_the_key() {
        for (toml, want) in [
            (
                "[check]\ntimeout = \"5\"",
                "t.toml: check.timeout: invalid duration \"5\"",
            ),
            (
                "[check]\ntimeout = \"0s\"",
                "t.toml: check.timeout: duration \"0s\" must be greater than zero",
            ),
            (
                "[ceph]\ntimeout = \"soon\"",
                "t.toml: ceph.timeout: invalid duration",
            ),
            (
                "[check]\naccept-status = [200, 999]",
                "t.toml: check.accept-status: 999 is not an HTTP status",
            ),
            (
                "[check]\nmax-concurrent-probes = 0",
                "t.toml: check.max-concurrent-probes: must be at least 1",
            ),
            (
                "[daemon-types.rgw]\nhttp-path = \"health\"",
                "t.toml: daemon-types.rgw.http-path: \"health\" must start with /",
            ),
        ] {
            let err = Config::from_toml(toml, "t.toml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{toml:?}: {err}");
        }
    }

    #[test]
    fn an_unknown_daemon_type_is_refused_with_the_nearest_one() {
        for (toml, want) in [
            (
                "[run]\ntypes = [\"rgww\"]\n",
                "t.toml: run.types: \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"? (known: rgw, node-exporter, ",
            ),
            (
                "[check]\ntypes = [\"rgw\", \"node_exporter\"]\n",
                "t.toml: check.types: \"node_exporter\" is not a daemon type ceph-warden can probe; did you mean \"node-exporter\"?",
            ),
            (
                "[daemon-types.rgww]\nfall = 3\n",
                "t.toml: daemon-types.rgww: \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"?",
            ),
            (
                "[check]\ntypes = [\"mds\"]\n",
                "t.toml: check.types: \"mds\" is not a daemon type ceph-warden can probe (known: rgw, node-exporter, ",
            ),
        ] {
            let err = error_of(toml);
            assert!(err.starts_with(want), "{toml:?}: {err}");
        }
        let cfg = Config::from_toml(
            "[run]\ntypes = [\"rgw\", \"node-exporter\"]\n[daemon-types.node-exporter]\nfall = 3\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.run.types, ["rgw", "node-exporter"]);
    }

    #[test]
    fn rgw_checks_a_timed_out_get_against_its_admin_socket_by_default() {
        let cfg = Config::from_toml("[daemon-types.rgw]\nfall = 3\n", "t.toml").unwrap();
        assert_eq!(cfg.probes("rgw"), [ProbeStep::Http, ProbeStep::Asok]);
        let empty = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(empty.probes("rgw"), [ProbeStep::Http, ProbeStep::Asok]);
        assert_eq!(empty.probes("node-exporter"), [ProbeStep::Http]);
        let http_only =
            Config::from_toml("[daemon-types.rgw]\nprobes = [\"http\"]\n", "t.toml").unwrap();
        assert_eq!(http_only.probes("rgw"), [ProbeStep::Http]);
        let err = Config::from_toml("[daemon-types.rgw]\nprobes = []\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("list at least one probe"), "{err}");
    }
}
