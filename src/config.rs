//! The configuration file: TOML, kebab-case keys, durations as strings with units.
//!
//! [`RawConfig`] mirrors the file (`deny_unknown_fields`, so a typo is an error naming the key);
//! [`Config::from_toml`] turns it into typed, validated values or a [`ConfigError`] naming the key.
//! `ceph-warden check-config FILE` runs the same code. Every key is documented, with its default
//! and why, in `systemd/ceph-warden.example.toml`.
//!
//! This file holds the validated types and the loading entry points; `raw` the file as written,
//! `validate` the checks of each section, with `run` and `s3` for the two largest, and `names`
//! the daemon types and health checks ceph-warden knows.

mod names;
mod raw;
mod run;
mod s3;
mod validate;

use raw::{default_admin_socket, default_http_listen, default_probes};
pub use validate::default_policy;
use validate::Origin;

pub use raw::{
    RawCeph, RawCheck, RawCommand, RawConfig, RawDaemonType, RawLease, RawRun, RawS3, RawStatic,
    RawSystemd,
};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ceph::CephCli;
use crate::machine::Policy;

/// Where the configuration is read from when `--config` is not given (only if it exists).
pub const DEFAULT_PATH: &str = "/etc/ceph-warden/ceph-warden.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (a path, or "built-in defaults"), for messages.
    pub origin: String,
    pub state_directory: PathBuf,
    pub ceph: CephCli,
    pub check: CheckConfig,
    pub daemon_types: BTreeMap<String, DaemonTypeConfig>,
    pub run: RunConfig,
    /// Set when a `[s3] credentials-file` is configured.
    pub s3: Option<S3Config>,
    /// Set when `[lease] enabled` (the default).
    pub lease: Option<crate::lease::LeaseSettings>,
}

#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub types: Vec<String>,
    pub host: Option<String>,
    pub timeout: Duration,
    pub max_restarts: u32,
    pub max_concurrent_probes: u32,
    pub accept_status: Vec<u16>,
}

#[derive(Debug, Clone)]
pub struct DaemonTypeConfig {
    pub http_path: String,
    pub probes: Vec<ProbeStep>,
    pub admin_socket: String,
    pub rados_stall_after: Duration,
    pub policy: Policy,
}

/// One step of a probe chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    Http,
    S3,
    /// The admin socket: is RADOS stalled under this daemon? Explains a failure of an earlier
    /// step as `degraded` (the cluster's fault) instead of the daemon's.
    Asok,
}

/// `[s3]`, validated, with the credentials read.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    pub object: String,
    pub region: String,
    pub create: bool,
    pub timeout: Duration,
    pub credentials: crate::probe::s3::S3Credentials,
}

/// `[run]`, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub host: Option<String>,
    pub types: Vec<String>,
    pub listen: ListenConfig,
    pub probe: ProbeConfig,
    pub inventory: InventoryConfig,
    pub orchestrators: Vec<Backend>,
    /// `run.kill-hung`: how a hung daemon whose restart was taken is killed; `None`: it is not.
    pub kill_hung: Option<HungKill>,
    pub agent_inter: Duration,
    pub shutdown_timeout: Duration,
    pub health_gate: HealthGateConfig,
    /// `run.max-load-drain-percent`: 0..=100.
    pub max_load_drain_percent: u8,
}

/// `run.agent-listen`, `run.http-listen` and `run.max-agent-connections`: the sockets the
/// sidecar serves on, which only a restart of the sidecar changes.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// The HAProxy agent-check listener.
    pub agent: SocketAddr,
    /// The HTTP API.
    pub http: SocketAddr,
    pub max_agent_connections: usize,
}

/// `run.probe-interval`, `run.probe-timeout` and `run.probe-timeout-floor`: how often a probe
/// starts, and the ceiling and floor of each step's learned deadline (`machine::deadline`).
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub timeout_floor: Duration,
}

/// `run.inventory` and `run.inventory-interval`: where the daemons of this host come from and
/// how often that is read again.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub source: InventorySource,
    pub interval: Duration,
}

/// `run.health-gate` and `run.health-interval`: the `ceph health detail` checks that make a
/// probe timeout `degraded`, and how often they are read.
#[derive(Debug, Clone)]
pub struct HealthGateConfig {
    /// Empty: no health gate.
    pub checks: Vec<String>,
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InventorySource {
    CephOrch,
    Static(Vec<StaticDaemon>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaticDaemon {
    pub name: String,
    pub daemon_type: String,
    pub url: String,
}

/// A restart backend (docs/design.md §7).
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// `ceph orch daemon restart <name>`.
    CephOrch,
    /// `systemctl restart ceph-<fsid>@<name>.service`, for when the mgr is down.
    Systemd { fsid: String },
    /// An argv template with `{name}`, `{type}`, `{id}`, `{host}`.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

/// How the sidecar kills a hung daemon whose restart the orchestrator took (`run.kill-hung`).
#[derive(Debug, Clone, PartialEq)]
pub enum HungKill {
    /// `systemctl kill --signal=SIGKILL ceph-<fsid>@<name>.service`.
    Systemd { fsid: String },
    /// An argv template with `{name}`, `{type}`, `{id}`, `{host}`.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

impl Config {
    /// Loads `path`, or [`DEFAULT_PATH`] if it exists, or the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = file_to_read(path) else {
            return Self::from_toml("", BUILT_IN);
        };
        Self::from_toml(&read(&path)?, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::try_from_raw(parse_raw(text, origin)?, origin)
    }

    /// How daemons of `daemon_type` are judged (the defaults where the config says nothing).
    pub fn policy(&self, daemon_type: &str) -> Policy {
        self.daemon_types.get(daemon_type).map_or_else(
            || default_policy(daemon_type, self.run.agent_inter),
            |t| t.policy.clone(),
        )
    }

    /// The probe chain of `daemon_type`.
    pub fn probes(&self, daemon_type: &str) -> Vec<ProbeStep> {
        self.daemon_types
            .get(daemon_type)
            .map_or_else(|| default_probes(daemon_type), |t| t.probes.clone())
    }

    /// The admin socket template and the RADOS stall threshold of `daemon_type`.
    pub fn asok(&self, daemon_type: &str) -> (String, Duration) {
        self.daemon_types.get(daemon_type).map_or_else(
            || (default_admin_socket(), Duration::from_secs(1)),
            |t| (t.admin_socket.clone(), t.rados_stall_after),
        )
    }

    /// The path the HTTP probe requests for daemons of `daemon_type`.
    pub fn http_path(&self, daemon_type: &str) -> &str {
        self.daemon_types
            .get(daemon_type)
            .map_or("/", |t| t.http_path.as_str())
    }
}

/// The TOML text as written, or the syntax error on its line.
fn parse_raw(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|err| {
        let (line, column) = err
            .span()
            .map_or((1, 1), |span| line_and_column(text, span.start));
        ConfigError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message: with_hint(err.message().trim().replace('\n', " ")),
        }
    })
}

/// serde's words for a bare number where the config wants a duration, with what to write.
fn with_hint(message: String) -> String {
    if message.starts_with("invalid type: integer") && message.contains("expected a string") {
        format!("{message} (durations are strings with a unit, e.g. \"500ms\" or \"2s\")")
    } else {
        message
    }
}

/// Where the sidecar's HTTP API listens, for the client commands (`status`, `drain`, ...):
/// `run.http-listen` of `path`, or of [`DEFAULT_PATH`] when it exists, else the default; with
/// the file it came from. The file must parse, but only this key is validated: the client
/// needs nothing else, and an operator may not be allowed to read the rest (the S3 credentials).
pub fn http_listen(path: Option<&Path>) -> Result<(SocketAddr, Option<PathBuf>), ConfigError> {
    let key = "run.http-listen";
    let Some(path) = file_to_read(path) else {
        return Ok((
            Origin(BUILT_IN).listen_addr(key, &default_http_listen())?,
            None,
        ));
    };
    let origin = path.display().to_string();
    let raw = parse_raw(&read(&path)?, &origin)?;
    let addr = Origin(&origin).listen_addr(key, &raw.run.http_listen)?;
    Ok((addr, Some(path)))
}

/// The origin of a configuration read from no file.
const BUILT_IN: &str = "built-in defaults";

/// `path`, or [`DEFAULT_PATH`] when it exists; `None`: the built-in defaults.
fn file_to_read(path: Option<&Path>) -> Option<PathBuf> {
    match path {
        Some(path) => Some(path.to_path_buf()),
        None if Path::new(DEFAULT_PATH).exists() => Some(PathBuf::from(DEFAULT_PATH)),
        None => None,
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `ceph-warden check-config FILE`: prints `FILE: ok` and returns 0, or the error and 78.
pub fn check_file(path: &Path) -> u8 {
    match Config::load(Some(path)) {
        Ok(_) => {
            println!("{}: ok", path.display());
            crate::exitcode::OK
        }
        Err(err) => {
            eprintln!("ceph-warden: error: {err}");
            crate::exitcode::CONFIG
        }
    }
}

/// `"5s"`, `"500ms"`, `"1m 30s"`: a positive duration with units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|err| {
        format!("invalid duration {text:?} ({err}); write a number with a unit, like \"5s\" or \"500ms\"")
    })?;
    if duration.is_zero() {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    Ok(duration)
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let cfg = Config::from_toml("", "t.toml").unwrap();
        assert_eq!(cfg.state_directory, Path::new("/var/lib/ceph-warden"));
        assert_eq!(cfg.ceph.binary, "ceph");
        assert_eq!(cfg.ceph.timeout, Duration::from_secs(30));
        assert_eq!(cfg.ceph.connect_timeout, Duration::from_secs(10));
        assert_eq!(cfg.check.types, ["rgw", "node-exporter"]);
        assert_eq!(cfg.check.timeout, Duration::from_secs(5));
        assert_eq!(cfg.check.max_restarts, 3);
        assert_eq!(cfg.check.max_concurrent_probes, 32);
        assert_eq!(cfg.check.accept_status, [200]);
        assert_eq!(cfg.http_path("rgw"), "/");
    }

    #[test]
    fn keys_are_kebab_case_and_durations_strings() {
        let cfg = Config::from_toml(
            r#"
state-directory = "/tmp/w"
[ceph]
connect-timeout = "2s"
args = ["--conf", "/etc/ceph/ceph.conf"]
[check]
max-concurrent-probes = 4
timeout = "750ms"
[daemon-types.rgw]
http-path = "/swift/healthcheck"
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.ceph.connect_timeout, Duration::from_secs(2));
        assert_eq!(cfg.ceph.args, ["--conf", "/etc/ceph/ceph.conf"]);
        assert_eq!(cfg.check.timeout, Duration::from_millis(750));
        assert_eq!(cfg.http_path("rgw"), "/swift/healthcheck");
        assert_eq!(cfg.http_path("node-exporter"), "/");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = Config::from_toml("[check]\ntimeout = \"5s\"\nmax-restart = 2\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.toml:3:1: unknown field `max-restart`"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = Config::from_toml("[ceph]\nbinary = \"/usr/bin/ceph\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:2:"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn a_wrong_type_is_a_syntax_error_on_its_line() {
        let err = Config::from_toml("[check]\n\nmax-restarts = \"three\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:3:"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    pub(super) fn error_of(toml: &str) -> String {
        Config::from_toml(toml, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_client_reads_only_http_listen() {
        let dir = std::env::temp_dir().join(format!("ceph-warden-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        // Unreadable credentials and a bad duration elsewhere do not stop the client.
        std::fs::write(
            &file,
            "[run]\nhttp-listen = \"0.0.0.0:9555\"\nprobe-timeout = \"soon\"\n[s3]\ncredentials-file = \"/nonexistent\"\n",
        )
        .unwrap();
        let (addr, origin) = http_listen(Some(&file)).unwrap();
        assert_eq!(addr, "0.0.0.0:9555".parse().unwrap());
        assert_eq!(origin, Some(file.clone()));
        std::fs::write(&file, "[run]\nhttp-listen = \"localhost:9555\"\n").unwrap();
        let err = http_listen(Some(&file)).unwrap_err().to_string();
        assert!(
            err.contains("run.http-listen: \"localhost:9555\" is not an address:port"),
            "{err}"
        );
        std::fs::write(&file, "[run]\nhttp-lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = http_listen(Some(&file)).unwrap_err().to_string();
        assert!(err.contains(":2:1: unknown field `http-lisen`"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
