//! The configuration file: TOML, kebab-case keys, durations as strings with units.
//!
//! [`RawConfig`] mirrors the file (`deny_unknown_fields`, so a typo is an error naming the key);
//! [`Config::try_from`] turns it into typed, validated values or a [`ConfigError`] naming the key.
//! `ceph-warden check-config FILE` runs the same code. Every key is documented, with its default
//! and why, in `systemd/ceph-warden.example.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ceph::CephCli;

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

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    /// Directory for state that outlives one run: the `check` lock file today.
    /// Default `/var/lib/ceph-warden` (systemd's `StateDirectory=ceph-warden`).
    #[serde(default = "default_state_directory")]
    pub state_directory: PathBuf,
    #[serde(default)]
    pub ceph: RawCeph,
    #[serde(default)]
    pub check: RawCheck,
    /// Per daemon type settings, keyed by type (`rgw`, `node-exporter`, ...).
    #[serde(default)]
    pub daemon_types: BTreeMap<String, RawDaemonType>,
}

/// `[ceph]`: how to call the `ceph` CLI.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCeph {
    /// Path or name on `PATH` of the `ceph` executable. Default `ceph`.
    #[serde(default = "default_ceph_binary")]
    pub binary: String,
    /// Arguments put before every `ceph` command, e.g. `["--conf", "/etc/ceph/ceph.conf",
    /// "--name", "client.ceph-warden", "--keyring", "/etc/ceph/ceph.client.ceph-warden.keyring"]`.
    /// Default none.
    #[serde(default)]
    pub args: Vec<String>,
    /// Every `ceph` call is killed after this long. Default `"30s"`: `ceph` hangs forever when the
    /// monitors are unreachable or the user lacks mon caps.
    #[serde(default = "default_ceph_timeout")]
    pub timeout: String,
    /// Passed as `--connect-timeout` (whole seconds). Default `"10s"`.
    #[serde(default = "default_ceph_connect_timeout")]
    pub connect_timeout: String,
}

/// `[check]`: defaults of `ceph-warden check` (each can be overridden by its flag).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCheck {
    /// Daemon types to check. Default `["rgw", "node-exporter"]`, the seed cron job's.
    #[serde(default = "default_check_types")]
    pub types: Vec<String>,
    /// Only daemons on this host (`ceph orch ps HOST`). Default: every host.
    #[serde(default)]
    pub host: Option<String>,
    /// Per-probe timeout. Default `"5s"`, the seed job's.
    #[serde(default = "default_check_timeout")]
    pub timeout: String,
    /// At most this many restarts per run. Default 3: enough for the seed incident (three
    /// frozen RGWs), bounded so a cluster-wide problem does not restart everything.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// At most this many probes at once. Default 32.
    #[serde(default = "default_max_concurrent_probes")]
    pub max_concurrent_probes: u32,
    /// HTTP statuses that count as healthy. Default `[200]`.
    #[serde(default = "default_accept_status")]
    pub accept_status: Vec<u16>,
}

/// `[daemon-types.<type>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDaemonType {
    /// Path the HTTP probe requests. Default `/`. For RGW, `/swift/healthcheck` honours
    /// `rgw_healthcheck_disabling_path` (it answers 503, seen as busy, while the file exists).
    #[serde(default = "default_http_path")]
    pub http_path: String,
}

fn default_state_directory() -> PathBuf {
    PathBuf::from("/var/lib/ceph-warden")
}
fn default_ceph_binary() -> String {
    "ceph".to_string()
}
fn default_ceph_timeout() -> String {
    "30s".to_string()
}
fn default_ceph_connect_timeout() -> String {
    "10s".to_string()
}
fn default_check_types() -> Vec<String> {
    vec!["rgw".to_string(), "node-exporter".to_string()]
}
fn default_check_timeout() -> String {
    "5s".to_string()
}
fn default_max_restarts() -> u32 {
    3
}
fn default_max_concurrent_probes() -> u32 {
    32
}
fn default_accept_status() -> Vec<u16> {
    vec![200]
}
fn default_http_path() -> String {
    "/".to_string()
}

impl Default for RawCeph {
    fn default() -> Self {
        Self {
            binary: default_ceph_binary(),
            args: Vec::new(),
            timeout: default_ceph_timeout(),
            connect_timeout: default_ceph_connect_timeout(),
        }
    }
}

impl Default for RawCheck {
    fn default() -> Self {
        Self {
            types: default_check_types(),
            host: None,
            timeout: default_check_timeout(),
            max_restarts: default_max_restarts(),
            max_concurrent_probes: default_max_concurrent_probes(),
            accept_status: default_accept_status(),
        }
    }
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
}

impl Config {
    /// Loads `path`, or [`DEFAULT_PATH`] if it exists, or the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Self::from_toml("", "built-in defaults"),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            let (line, column) = err
                .span()
                .map_or((1, 1), |span| line_and_column(text, span.start));
            ConfigError::Syntax {
                origin: origin.to_string(),
                line,
                column,
                message: err.message().trim().replace('\n', " "),
            }
        })?;
        Self::try_from_raw(raw, origin)
    }

    fn try_from_raw(raw: RawConfig, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let duration =
            |key: &str, text: &str| parse_duration(text).map_err(|message| invalid(key, message));
        if raw.ceph.binary.trim().is_empty() {
            return Err(invalid("ceph.binary", "must not be empty".into()));
        }
        if raw.check.types.iter().any(|t| t.trim().is_empty()) {
            return Err(invalid("check.types", "a type must not be empty".into()));
        }
        if raw.check.max_concurrent_probes == 0 {
            return Err(invalid(
                "check.max-concurrent-probes",
                "must be at least 1".into(),
            ));
        }
        if raw.check.accept_status.is_empty() {
            return Err(invalid(
                "check.accept-status",
                "must list at least one status".into(),
            ));
        }
        if let Some(bad) = raw
            .check
            .accept_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return Err(invalid(
                "check.accept-status",
                format!("{bad} is not an HTTP status"),
            ));
        }
        let mut daemon_types = BTreeMap::new();
        for (name, raw_type) in raw.daemon_types {
            if !raw_type.http_path.starts_with('/') {
                return Err(invalid(
                    &format!("daemon-types.{name}.http-path"),
                    format!("{:?} must start with /", raw_type.http_path),
                ));
            }
            daemon_types.insert(
                name,
                DaemonTypeConfig {
                    http_path: raw_type.http_path,
                },
            );
        }
        Ok(Self {
            origin: origin.to_string(),
            state_directory: raw.state_directory,
            ceph: CephCli {
                binary: raw.ceph.binary,
                args: raw.ceph.args,
                timeout: duration("ceph.timeout", &raw.ceph.timeout)?,
                connect_timeout: duration("ceph.connect-timeout", &raw.ceph.connect_timeout)?,
            },
            check: CheckConfig {
                types: raw.check.types,
                host: raw.check.host.filter(|h| !h.trim().is_empty()),
                timeout: duration("check.timeout", &raw.check.timeout)?,
                max_restarts: raw.check.max_restarts,
                max_concurrent_probes: raw.check.max_concurrent_probes,
                accept_status: raw.check.accept_status,
            },
            daemon_types,
        })
    }

    /// The path the HTTP probe requests for daemons of `daemon_type`.
    pub fn http_path(&self, daemon_type: &str) -> &str {
        self.daemon_types
            .get(daemon_type)
            .map_or("/", |t| t.http_path.as_str())
    }
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
    fn a_wrong_type_is_a_syntax_error_on_its_line() {
        let err = Config::from_toml("[check]\n\nmax-restarts = \"three\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:3:"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }
}
