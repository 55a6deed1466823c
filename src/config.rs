//! The configuration file: TOML, kebab-case keys, durations as strings with units.
//!
//! [`RawConfig`] mirrors the file (`deny_unknown_fields`, so a typo is an error naming the key);
//! [`Config::from_toml`] turns it into typed, validated values or a [`ConfigError`] naming the key.
//! `ceph-warden check-config FILE` runs the same code. Every key is documented, with its default
//! and why, in `systemd/ceph-warden.example.toml`.

mod names;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    #[serde(default)]
    pub run: RawRun,
    /// `[[static]]`: the daemons of this host, for hosts without cephadm (`run.inventory = "static"`).
    #[serde(default, rename = "static")]
    pub static_daemons: Vec<RawStatic>,
    #[serde(default)]
    pub systemd: RawSystemd,
    #[serde(default)]
    pub command: RawCommand,
    #[serde(default)]
    pub s3: RawS3,
    #[serde(default)]
    pub lease: RawLease,
}

/// `[lease]`: the cluster-wide restart lease (docs/design.md §8).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLease {
    /// Take the lease before every restart. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Default `.rgw.root`: it exists wherever RGW does.
    #[serde(default = "default_lease_pool")]
    pub pool: String,
    /// Default `ceph-warden`: invisible to RGW, and caps can be scoped to it.
    #[serde(default = "default_lease_namespace")]
    pub namespace: String,
    /// RGWs of one service restarting at once, across all hosts. Default 1.
    #[serde(default = "default_max_concurrent_restarts")]
    pub max_concurrent_restarts: u32,
    /// The `rados` CLI. Default `rados`.
    #[serde(default = "default_rados")]
    pub rados: String,
    /// `--rados-osd-op-timeout` and `--client-mount-timeout`. Default `"5s"`.
    #[serde(default = "default_lease_op_timeout")]
    pub op_timeout: String,
}

impl Default for RawLease {
    fn default() -> Self {
        Self {
            enabled: true,
            pool: default_lease_pool(),
            namespace: default_lease_namespace(),
            max_concurrent_restarts: default_max_concurrent_restarts(),
            rados: default_rados(),
            op_timeout: default_lease_op_timeout(),
        }
    }
}

fn default_lease_pool() -> String {
    ".rgw.root".to_string()
}
fn default_lease_namespace() -> String {
    "ceph-warden".to_string()
}
fn default_max_concurrent_restarts() -> u32 {
    1
}
fn default_rados() -> String {
    "rados".to_string()
}
fn default_lease_op_timeout() -> String {
    "5s".to_string()
}

/// `[s3]`: the S3 canary probe (`probes = ["http", "s3"]` in a daemon type).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawS3 {
    /// A TOML file with `access-key` and `secret-key`, readable by the service user only (it
    /// is refused when others may read it). The secret is never logged or shown.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Default `ceph-warden-canary`.
    #[serde(default = "default_s3_bucket")]
    pub bucket: String,
    /// Default `canary`.
    #[serde(default = "default_s3_object")]
    pub object: String,
    /// The SigV4 region (RGW's zonegroup api name). Default `us-east-1`.
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// Create the bucket and object on first use. Default true.
    #[serde(default = "default_true")]
    pub create: bool,
    /// The S3 step's deadline. Default `"2s"`.
    #[serde(default = "default_s3_timeout")]
    pub timeout: String,
}

impl Default for RawS3 {
    fn default() -> Self {
        Self {
            credentials_file: None,
            bucket: default_s3_bucket(),
            object: default_s3_object(),
            region: default_s3_region(),
            create: true,
            timeout: default_s3_timeout(),
        }
    }
}

fn default_s3_bucket() -> String {
    "ceph-warden-canary".to_string()
}
fn default_s3_object() -> String {
    "canary".to_string()
}
fn default_s3_region() -> String {
    "us-east-1".to_string()
}
fn default_true() -> bool {
    true
}
fn default_s3_timeout() -> String {
    "2s".to_string()
}

/// The credentials file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawS3Credentials {
    access_key: String,
    secret_key: String,
}

/// `[run]`: the sidecar (`ceph-warden run`).
// Flat like the file: `#[serde(flatten)]` beside `deny_unknown_fields` loses serde's "expected one of" list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRun {
    /// This host's name as the orchestrator knows it (`ceph orch ps HOST`). Default: the
    /// machine's host name up to the first dot, as cephadm names hosts.
    #[serde(default)]
    pub host: Option<String>,
    /// Daemon types the sidecar watches. Default `["rgw"]`.
    #[serde(default = "default_run_types")]
    pub types: Vec<String>,
    /// HAProxy agent-check listener. Default `0.0.0.0:9480`: HAProxy connects from its host.
    #[serde(default = "default_agent_listen")]
    pub agent_listen: String,
    /// HTTP API. Default `127.0.0.1:9481`: mutating routes are loopback-only anyway.
    #[serde(default = "default_http_listen")]
    pub http_listen: String,
    /// At most this many agent connections at once; more wait in the listen backlog until a
    /// slot frees (each is bounded to 1 s). Default 256.
    #[serde(default = "default_max_agent_connections")]
    pub max_agent_connections: u32,
    /// A probe starts every interval, whether or not the previous one finished. Default
    /// `"500ms"`: with `probe-timeout` 1 s and `fall` 2, a frozen RGW is out 1.5-2 s after it
    /// froze, plus one agent-inter for HAProxy to ask.
    #[serde(default = "default_probe_interval")]
    pub probe_interval: String,
    /// Each probe's deadline. Default `"1s"`: RGW answers `GET /` in milliseconds; a frozen RGW
    /// never does.
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout: String,
    /// How often the inventory is refreshed (also right after each restart). Default `"60s"`.
    #[serde(default = "default_inventory_interval")]
    pub inventory_interval: String,
    /// `ceph-orch` (`ceph orch ps HOST`) or `static` (`[[static]]`). Default `ceph-orch`.
    #[serde(default = "default_inventory_source")]
    pub inventory: String,
    /// Restart backends, tried in order until one accepts: `ceph-orch`, `systemd`, `command`.
    /// Default `["ceph-orch"]`.
    #[serde(default = "default_orchestrators")]
    pub orchestrators: Vec<String>,
    /// HAProxy's `agent-inter` for our servers; the drain confirmation waits at most 3 of them
    /// by default. Default `"1s"` (haproxy/haproxy.cfg).
    #[serde(default = "default_agent_inter")]
    pub agent_inter: String,
    /// Graceful shutdown bound: SIGTERM exits within this. Default `"5s"`.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: String,
    /// How often `ceph health detail` is read for the health gate. Default `"10s"`.
    #[serde(default = "default_health_interval")]
    pub health_interval: String,
    /// Health checks that make a probe timeout `degraded` instead of a failure; `[]` turns the
    /// gate off. Default `["SLOW_OPS", "OSD_DOWN", "PG_AVAILABILITY"]`.
    #[serde(default = "default_health_gate")]
    pub health_gate: Vec<String>,
}

/// One `[[static]]` daemon.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStatic {
    /// `<type>.<id>`, e.g. `rgw.host1`.
    pub name: String,
    /// The URL the HTTP probe requests, e.g. `http://127.0.0.1:8080/`.
    pub url: String,
}

/// `[systemd]`: the `systemd` restart backend (`systemctl restart ceph-<fsid>@<name>.service`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSystemd {
    /// The cluster fsid in the unit names. Required by the `systemd` backend.
    #[serde(default)]
    pub fsid: Option<String>,
}

/// `[command]`: the `command` restart backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCommand {
    /// argv template; `{name}`, `{type}`, `{id}`, `{host}` are replaced. Never run by a shell.
    #[serde(default)]
    pub restart: Vec<String>,
    /// Each run is killed after this long. Default `"60s"`.
    #[serde(default = "default_command_timeout")]
    pub timeout: String,
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
// Flat like the file: `#[serde(flatten)]` beside `deny_unknown_fields` loses serde's "expected one of" list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDaemonType {
    /// Path the HTTP probe requests. Default `/`. For RGW, `/swift/healthcheck` honours
    /// `rgw_healthcheck_disabling_path` (it answers 503, seen as busy, while the file exists).
    #[serde(default = "default_http_path")]
    pub http_path: String,
    /// The probe chain, run in order, each step with its own deadline; the first failing step
    /// decides: `http` (GET http-path), `s3` (a signed read of the canary object, `[s3]`),
    /// `asok` (is RADOS stalled under the daemon?). Default `["http", "asok"]` for rgw,
    /// `["http"]` for other types.
    #[serde(default)]
    pub probes: Option<Vec<String>>,
    /// The daemon's admin socket, for the `asok` step; `{name}` (`rgw.a`), `{id}` (`a`) and
    /// `*` (within one path component) are expanded. Default cephadm's:
    /// `/var/run/ceph/*/ceph-client.{name}*.asok`.
    #[serde(default = "default_admin_socket")]
    pub admin_socket: String,
    /// The `asok` step calls RADOS stalled when the daemon's oldest RADOS operation
    /// (`objecter_requests`) is older than this. Default `"1s"`: ops take milliseconds; during
    /// a frozen OSD every RGW's oldest op ages 1 s per second.
    #[serde(default = "default_rados_stall_after")]
    pub rados_stall_after: String,
    /// Consecutive failed probes before the daemon is taken out and restarted. Default 2.
    #[serde(default)]
    pub fall: Option<u32>,
    /// Consecutive passed probes before it is put back. Default 2.
    #[serde(default)]
    pub rise: Option<u32>,
    /// Behind HAProxy (drain before restarting). Default: true for `rgw`, false otherwise.
    #[serde(default)]
    pub load_balanced: Option<bool>,
    /// A restart must be followed by `rise` passing probes within this. Default `"120s"`.
    #[serde(default)]
    pub restart_timeout: Option<String>,
    /// Failures expected after a (re)start. Default `"30s"`: RGW may take long to initialise.
    #[serde(default)]
    pub startup_grace: Option<String>,
    /// Automatic restarts allowed per `restart-window` before the daemon is held. Default 3.
    #[serde(default)]
    pub max_restarts: Option<u32>,
    /// Default `"30m"`.
    #[serde(default)]
    pub restart_window: Option<String>,
    /// Wait before the second attempt, doubled each time. Default `"10s"`.
    #[serde(default)]
    pub backoff: Option<String>,
    /// The longest wait between attempts. Default `"5m"`.
    #[serde(default)]
    pub backoff_max: Option<String>,
    /// Planned restart: the longest wait for in-flight requests (established connections to
    /// the daemon's port) to finish. Default `"30s"`.
    #[serde(default)]
    pub drain_timeout: Option<String>,
    /// The longest wait for every HAProxy to see a drain/down. Default 3 × `run.agent-inter`.
    #[serde(default)]
    pub drain_confirm_timeout: Option<String>,
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
fn default_admin_socket() -> String {
    "/var/run/ceph/*/ceph-client.{name}*.asok".to_string()
}
fn default_rados_stall_after() -> String {
    "1s".to_string()
}
/// RGW: a GET that times out is checked against the admin socket (a RADOS stall under load
/// makes every RGW's GET wait; a frozen RGW's socket does not answer). Without a socket at
/// the configured place the asok step finds no stall and changes nothing.
fn default_probes(daemon_type: &str) -> Vec<ProbeStep> {
    if daemon_type == "rgw" {
        vec![ProbeStep::Http, ProbeStep::Asok]
    } else {
        vec![ProbeStep::Http]
    }
}
fn default_run_types() -> Vec<String> {
    vec!["rgw".to_string()]
}
fn default_agent_listen() -> String {
    "0.0.0.0:9480".to_string()
}
fn default_http_listen() -> String {
    "127.0.0.1:9481".to_string()
}
fn default_max_agent_connections() -> u32 {
    256
}
fn default_probe_interval() -> String {
    "500ms".to_string()
}
fn default_probe_timeout() -> String {
    "1s".to_string()
}
fn default_inventory_interval() -> String {
    "60s".to_string()
}
fn default_inventory_source() -> String {
    "ceph-orch".to_string()
}
fn default_orchestrators() -> Vec<String> {
    vec!["ceph-orch".to_string()]
}
fn default_agent_inter() -> String {
    "1s".to_string()
}
fn default_shutdown_timeout() -> String {
    "5s".to_string()
}
fn default_health_interval() -> String {
    "10s".to_string()
}
fn default_health_gate() -> Vec<String> {
    ["SLOW_OPS", "OSD_DOWN", "PG_AVAILABILITY"]
        .map(String::from)
        .to_vec()
}
fn default_command_timeout() -> String {
    "60s".to_string()
}

impl Default for RawCommand {
    fn default() -> Self {
        Self {
            restart: Vec::new(),
            timeout: default_command_timeout(),
        }
    }
}

impl Default for RawRun {
    fn default() -> Self {
        Self {
            host: None,
            types: default_run_types(),
            agent_listen: default_agent_listen(),
            http_listen: default_http_listen(),
            max_agent_connections: default_max_agent_connections(),
            probe_interval: default_probe_interval(),
            probe_timeout: default_probe_timeout(),
            inventory_interval: default_inventory_interval(),
            inventory: default_inventory_source(),
            orchestrators: default_orchestrators(),
            agent_inter: default_agent_inter(),
            shutdown_timeout: default_shutdown_timeout(),
            health_interval: default_health_interval(),
            health_gate: default_health_gate(),
        }
    }
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
    pub agent_inter: Duration,
    pub shutdown_timeout: Duration,
    pub health_gate: HealthGateConfig,
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

/// `run.probe-interval` and `run.probe-timeout`: how often a probe starts and its deadline.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub interval: Duration,
    pub timeout: Duration,
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

    /// Validates each section in turn; the first error found is the one reported.
    fn try_from_raw(raw: RawConfig, origin: &str) -> Result<Self, ConfigError> {
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

/// Where the configuration came from: every error names it, with the key at fault.
#[derive(Debug, Clone, Copy)]
struct Origin<'a>(&'a str);

impl Origin<'_> {
    fn invalid(self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.0.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn duration(self, key: &str, text: &str) -> Result<Duration, ConfigError> {
        parse_duration(text).map_err(|message| self.invalid(key, message))
    }

    fn listen_addr(self, key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
        listen_addr(text).map_err(|message| self.invalid(key, message))
    }

    fn at_least_one(self, key: &str, value: u32) -> Result<(), ConfigError> {
        if value == 0 {
            return Err(self.invalid(key, "must be at least 1"));
        }
        Ok(())
    }

    fn known_type(self, key: &str, name: &str) -> Result<(), ConfigError> {
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
    })
}

/// `[s3]`: `None` without a credentials file (then no daemon type may list the `s3` step).
fn s3_from(raw: &RawS3, at: Origin<'_>) -> Result<Option<S3Config>, ConfigError> {
    let Some(path) = &raw.credentials_file else {
        return Ok(None);
    };
    Ok(Some(S3Config {
        bucket: raw.bucket.clone(),
        object: raw.object.clone(),
        region: raw.region.clone(),
        create: raw.create,
        timeout: at.duration("s3.timeout", &raw.timeout)?,
        credentials: read_credentials(path)
            .map_err(|message| at.invalid("s3.credentials-file", message))?,
    }))
}

/// Reads the S3 canary credentials; refuses a file others may read.
fn read_credentials(path: &Path) -> Result<crate::probe::s3::S3Credentials, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|err| format!("{}: {err}", path.display()))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user; chmod 0600 (or 0640 with the service group) it",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
    // The parse error never quotes the file: it holds the secret.
    let raw: RawS3Credentials = toml::from_str(&text).map_err(|err| {
        let at = err
            .span()
            .map(|span| format!(" at line {}", line_and_column(&text, span.start).0))
            .unwrap_or_default();
        format!(
            "{}{at}: expected access-key and secret-key strings",
            path.display()
        )
    })?;
    Ok(crate::probe::s3::S3Credentials {
        access_key: raw.access_key,
        secret_key: raw.secret_key,
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

/// `[run]`, with the sections it points at: `[[static]]` for the static inventory, `[systemd]`
/// and `[command]` for those restart backends.
fn run_from(
    raw: &RawConfig,
    agent_inter: Duration,
    at: Origin<'_>,
) -> Result<RunConfig, ConfigError> {
    let run = &raw.run;
    if run.types.is_empty() || run.types.iter().any(|t| t.trim().is_empty()) {
        return Err(at.invalid("run.types", "list at least one daemon type"));
    }
    for daemon_type in &run.types {
        at.known_type("run.types", daemon_type)?;
    }
    let (agent_listen, http_listen) = listeners_from(run, at)?;
    at.at_least_one("run.max-agent-connections", run.max_agent_connections)?;
    let inventory = inventory_from(run, &raw.static_daemons, at)?;
    let orchestrators = orchestrators_from(raw, at)?;
    let probe_interval = at.duration("run.probe-interval", &run.probe_interval)?;
    let health_gate = health_gate_from(&run.health_gate, at)?;
    Ok(RunConfig {
        host: run.host.clone().filter(|h| !h.trim().is_empty()),
        types: run.types.clone(),
        listen: ListenConfig {
            agent: agent_listen,
            http: http_listen,
            max_agent_connections: usize::try_from(run.max_agent_connections).unwrap_or(usize::MAX),
        },
        probe: ProbeConfig {
            interval: probe_interval,
            timeout: at.duration("run.probe-timeout", &run.probe_timeout)?,
        },
        inventory: InventoryConfig {
            source: inventory,
            interval: at.duration("run.inventory-interval", &run.inventory_interval)?,
        },
        orchestrators,
        agent_inter,
        shutdown_timeout: at.duration("run.shutdown-timeout", &run.shutdown_timeout)?,
        health_gate: HealthGateConfig {
            checks: health_gate,
            interval: at.duration("run.health-interval", &run.health_interval)?,
        },
    })
}

/// `run.agent-listen` and `run.http-listen`: two addresses that do not take the same socket.
fn listeners_from(run: &RawRun, at: Origin<'_>) -> Result<(SocketAddr, SocketAddr), ConfigError> {
    let agent_listen = at.listen_addr("run.agent-listen", &run.agent_listen)?;
    let http_listen = at.listen_addr("run.http-listen", &run.http_listen)?;
    if same_socket(agent_listen, http_listen) {
        let free = if agent_listen.port() == 9481 {
            9482
        } else {
            9481
        };
        return Err(at.invalid(
            "run.http-listen",
            format!(
                "{:?} takes the port of run.agent-listen {:?}: the HTTP API needs a socket of its own; write e.g. http-listen = \"127.0.0.1:{free}\"",
                run.http_listen, run.agent_listen
            ),
        ));
    }
    Ok((agent_listen, http_listen))
}

/// `run.inventory`: the orchestrator's, or the `[[static]]` daemons.
fn inventory_from(
    run: &RawRun,
    statics: &[RawStatic],
    at: Origin<'_>,
) -> Result<InventorySource, ConfigError> {
    match run.inventory.as_str() {
        "ceph-orch" => Ok(InventorySource::CephOrch),
        "static" if statics.is_empty() => Err(at.invalid(
            "run.inventory",
            "\"static\" needs at least one [[static]] daemon",
        )),
        "static" => {
            let mut list: Vec<StaticDaemon> = Vec::new();
            for (i, daemon) in statics.iter().enumerate() {
                let daemon = static_from(i, daemon, &run.types, &list, at)?;
                list.push(daemon);
            }
            Ok(InventorySource::Static(list))
        }
        other => Err(at.invalid(
            "run.inventory",
            format!("{other:?}: expected \"ceph-orch\" or \"static\""),
        )),
    }
}

/// `[[static]]` number `i`: a `<type>.<id>` name of a watched type, not taken by an `earlier`
/// one, and a URL the probe can request.
fn static_from(
    i: usize,
    raw: &RawStatic,
    watched: &[String],
    earlier: &[StaticDaemon],
    at: Origin<'_>,
) -> Result<StaticDaemon, ConfigError> {
    let name_key = format!("static[{i}].name");
    let Some((daemon_type, _)) = raw.name.split_once('.') else {
        return Err(at.invalid(&name_key, format!("{:?} is not <type>.<id>", raw.name)));
    };
    known_type(daemon_type)
        .map_err(|message| at.invalid(&name_key, format!("{:?}: {message}", raw.name)))?;
    if !watched.iter().any(|t| t == daemon_type) {
        return Err(at.invalid(
            &name_key,
            format!(
                "{:?} is of type {daemon_type}, which run.types does not list, so it would never be watched; add {daemon_type:?} to run.types",
                raw.name
            ),
        ));
    }
    if let Some(first) = earlier.iter().position(|d| d.name == raw.name) {
        return Err(at.invalid(
            &name_key,
            format!(
                "{:?} is also the name of static[{first}]; give each daemon its own name (it is the tag HAProxy's agent-send asks for)",
                raw.name
            ),
        ));
    }
    probe_url(&raw.url).map_err(|message| at.invalid(&format!("static[{i}].url"), message))?;
    Ok(StaticDaemon {
        name: raw.name.clone(),
        daemon_type: daemon_type.to_string(),
        url: raw.url.clone(),
    })
}

/// `run.orchestrators`: the restart backends, in the order they are tried.
fn orchestrators_from(raw: &RawConfig, at: Origin<'_>) -> Result<Vec<Backend>, ConfigError> {
    if raw.run.orchestrators.is_empty() {
        return Err(at.invalid("run.orchestrators", "list at least one backend"));
    }
    raw.run
        .orchestrators
        .iter()
        .map(|name| backend_from(name, &raw.systemd, &raw.command, at))
        .collect()
}

/// One restart backend, with the section it needs.
fn backend_from(
    name: &str,
    systemd: &RawSystemd,
    command: &RawCommand,
    at: Origin<'_>,
) -> Result<Backend, ConfigError> {
    match name {
        "ceph-orch" => Ok(Backend::CephOrch),
        "systemd" => {
            let fsid = systemd.fsid.clone().filter(|f| !f.trim().is_empty());
            let fsid = fsid.ok_or_else(|| {
                at.invalid("systemd.fsid", "the systemd backend needs the cluster fsid")
            })?;
            Ok(Backend::Systemd { fsid })
        }
        "command" if command.restart.is_empty() => {
            Err(at.invalid("command.restart", "the command backend needs an argv"))
        }
        "command" => Ok(Backend::Command {
            argv: command.restart.clone(),
            timeout: at.duration("command.timeout", &command.timeout)?,
        }),
        other => Err(at.invalid(
            "run.orchestrators",
            format!("{other:?}: expected \"ceph-orch\", \"systemd\" or \"command\""),
        )),
    }
}

/// `run.health-gate`: `ceph health detail` check codes, every unknown one named at once (a run
/// of check-config per typo is a slow way to learn them).
fn health_gate_from(codes: &[String], at: Origin<'_>) -> Result<Vec<String>, ConfigError> {
    let unknown: Vec<String> = codes
        .iter()
        .filter(|code| !names::HEALTH_CHECKS.contains(&code.as_str()))
        .map(|bad| {
            names::unknown(
                bad,
                "a ceph health check code",
                names::HEALTH_CHECKS,
                "write the codes as `ceph health detail` names them, e.g. \"SLOW_OPS\", \"OSD_DOWN\", \"PG_AVAILABILITY\"; [] turns the gate off",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(at.invalid("run.health-gate", unknown.join("; and ")));
    }
    Ok(codes.to_vec())
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

fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|err| {
        format!("{text:?} is not an address:port ({err}); write it like \"127.0.0.1:9481\" or \"[::1]:9481\"")
    })
}

/// Whether two listen addresses take the same socket: the same port on the same address, or
/// on an address the other's wildcard covers (`0.0.0.0` every IPv4 address; `[::]` every
/// address, as Linux binds it dual-stack by default). Port 0 picks a free port each time.
fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wide: IpAddr, narrow: IpAddr| {
        wide == narrow || (wide.is_unspecified() && (wide.is_ipv6() || narrow.is_ipv4()))
    };
    a.port() == b.port() && a.port() != 0 && (covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

/// A `[[static]]` daemon's URL as the HTTP probe will request it (the same parser), or why it
/// cannot be: the probe would fail on every request, and the daemon be restarted for a
/// configuration error.
fn probe_url(text: &str) -> Result<reqwest::Url, String> {
    let example = "write it like \"http://127.0.0.1:8080/\"";
    let parsed = reqwest::Url::parse(text);
    if let Ok(url) = &parsed {
        match url.scheme() {
            "http" if url.host_str().is_some_and(|h| !h.is_empty()) => return Ok(url.clone()),
            "http" => return Err(format!("{text:?} names no host; {example}")),
            "https" => {
                let mut plain = url.clone();
                // https -> http is always allowed between special schemes.
                let _ = plain.set_scheme("http");
                return Err(format!(
                    "{text:?}: the probe speaks plain HTTP only (this build has no TLS); write {:?} with the daemon's plain HTTP port",
                    plain.as_str()
                ));
            }
            _ => {}
        }
    }
    // No scheme (`localhost:8080` parses as scheme "localhost"), or another one.
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let with_http = reqwest::Url::parse(&format!("http://{rest}")).ok();
    match (text.contains("://"), with_http) {
        (false, Some(url)) => Err(format!(
            "{text:?} has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write {:?}",
            url.as_str()
        )),
        (true, Some(url)) => Err(format!(
            "{text:?}: the probe requests http:// URLs only; write {:?}",
            url.as_str()
        )),
        (_, None) => Err(match parsed {
            Err(err) => format!("{text:?} is not a URL ({err}); {example}"),
            Ok(_) => format!("{text:?} is not an http:// URL; {example}"),
        }),
    }
}

/// `Err` naming `name` and the nearest known type when `name` is not one ceph-warden probes.
fn known_type(name: &str) -> Result<(), String> {
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

    fn error_of(toml: &str) -> String {
        Config::from_toml(toml, "t.toml").unwrap_err().to_string()
    }

    const STATIC: &str = "[run]\ninventory = \"static\"\norchestrators = [\"command\"]\n[command]\nrestart = [\"true\"]\n";

    #[test]
    fn a_static_url_the_probe_cannot_request_is_refused_with_what_to_write() {
        for (url, want) in [
            (
                "localhost:38081",
                "t.toml: static[0].url: \"localhost:38081\" has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write \"http://localhost:38081/\"",
            ),
            (
                "127.0.0.1:8080",
                "t.toml: static[0].url: \"127.0.0.1:8080\" has no http:// scheme, so the probe could never request it (and the daemon would be restarted for it); write \"http://127.0.0.1:8080/\"",
            ),
            (
                "ftp://127.0.0.1:8080/",
                "t.toml: static[0].url: \"ftp://127.0.0.1:8080/\": the probe requests http:// URLs only; write \"http://127.0.0.1:8080/\"",
            ),
            (
                "https://rgw1:8443/",
                "t.toml: static[0].url: \"https://rgw1:8443/\": the probe speaks plain HTTP only (this build has no TLS); write \"http://rgw1:8443/\" with the daemon's plain HTTP port",
            ),
            (
                "http://:8080/",
                "t.toml: static[0].url: \"http://:8080/\" is not a URL (empty host); write it like \"http://127.0.0.1:8080/\"",
            ),
        ] {
            let err = error_of(&format!("{STATIC}[[static]]\nname = \"rgw.a\"\nurl = {url:?}\n"));
            assert_eq!(err, want);
        }
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
            "http://rgw1.example:80/swift/healthcheck",
        ] {
            let cfg = Config::from_toml(
                &format!("{STATIC}[[static]]\nname = \"rgw.a\"\nurl = {url:?}\n"),
                "t.toml",
            )
            .unwrap();
            assert!(
                matches!(cfg.run.inventory.source, InventorySource::Static(_)),
                "{url}"
            );
        }
    }

    #[test]
    fn static_names_are_unique_and_of_a_watched_type() {
        let a = "[[static]]\nname = \"rgw.a\"\nurl = \"http://127.0.0.1:1/\"\n";
        let err = error_of(&format!(
            "{STATIC}{a}[[static]]\nname = \"rgw.b\"\nurl = \"http://127.0.0.1:2/\"\n{a}"
        ));
        assert_eq!(
            err,
            "t.toml: static[2].name: \"rgw.a\" is also the name of static[0]; give each daemon its own name (it is the tag HAProxy's agent-send asks for)"
        );
        let err = error_of(&format!(
            "{STATIC}[[static]]\nname = \"rgww.a\"\nurl = \"http://127.0.0.1:1/\"\n"
        ));
        assert!(
            err.starts_with("t.toml: static[0].name: \"rgww.a\": \"rgww\" is not a daemon type ceph-warden can probe; did you mean \"rgw\"?"),
            "{err}"
        );
        let err = error_of(&format!(
            "{STATIC}[[static]]\nname = \"node-exporter.h1\"\nurl = \"http://127.0.0.1:9100/\"\n"
        ));
        assert!(err.contains("static[0].name: \"node-exporter.h1\" is of type node-exporter, which run.types does not list, so it would never be watched; add \"node-exporter\" to run.types"), "{err}");
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
    fn an_unknown_health_check_is_refused_with_the_nearest_one() {
        assert_eq!(
            error_of("[run]\nhealth-gate = [\"SLOW_OP\", \"OSD_DOWN\"]\n"),
            "t.toml: run.health-gate: \"SLOW_OP\" is not a ceph health check code; did you mean \"SLOW_OPS\"? (write the codes as `ceph health detail` names them, e.g. \"SLOW_OPS\", \"OSD_DOWN\", \"PG_AVAILABILITY\"; [] turns the gate off)"
        );
        assert!(error_of("[run]\nhealth-gate = [\"slow ops\"]\n")
            .contains("did you mean \"SLOW_OPS\"?"));
        assert!(error_of("[run]\nhealth-gate = [\"\"]\n")
            .starts_with("t.toml: run.health-gate: \"\" is not a ceph health check code ("));
        let cfg = Config::from_toml(
            "[run]\nhealth-gate = [\"SLOW_OPS\", \"OSD_HOST_DOWN\", \"PG_DEGRADED\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.run.health_gate.checks.len(), 3);
        assert!(Config::from_toml("[run]\nhealth-gate = []\n", "t.toml").is_ok());
        let bare = error_of("[run]\nprobe-interval = 500\n");
        assert!(bare.contains("e.g. \"500ms\""), "{bare}");
        // Every unknown code in one run, not one per run.
        let both = error_of("[run]\nhealth-gate = [\"SLOW_OP\", \"OSD_DWN\"]\n");
        assert!(
            both.contains("\"SLOW_OP\" is not") && both.contains("\"OSD_DWN\" is not"),
            "{both}"
        );
    }

    #[test]
    fn the_agent_and_the_api_cannot_share_a_socket() {
        for (agent, http) in [
            ("127.0.0.1:9480", "127.0.0.1:9480"),
            ("0.0.0.0:9480", "127.0.0.1:9480"),
            ("127.0.0.1:9480", "0.0.0.0:9480"),
            ("[::]:9480", "127.0.0.1:9480"),
            ("[::1]:9480", "[::]:9480"),
        ] {
            let err = error_of(&format!(
                "[run]\nagent-listen = {agent:?}\nhttp-listen = {http:?}\n"
            ));
            assert_eq!(
                err,
                format!("t.toml: run.http-listen: {http:?} takes the port of run.agent-listen {agent:?}: the HTTP API needs a socket of its own; write e.g. http-listen = \"127.0.0.1:9481\"")
            );
        }
        for (agent, http) in [
            ("0.0.0.0:9480", "127.0.0.1:9481"),
            ("127.0.0.1:9480", "127.0.0.2:9480"),
            ("0.0.0.0:9480", "[::1]:9480"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ] {
            let cfg = Config::from_toml(
                &format!("[run]\nagent-listen = {agent:?}\nhttp-listen = {http:?}\n"),
                "t.toml",
            );
            assert!(cfg.is_ok(), "{agent} {http}: {cfg:?}");
        }
        let err = error_of("[run]\nagent-listen = \"0.0.0.0:9481\"\n");
        assert!(
            err.ends_with("write e.g. http-listen = \"127.0.0.1:9482\""),
            "{err}"
        );
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

    const SECRET: &str = "access-key = \"AK\"\nsecret-key = \"sekrit-value\"\n";

    fn credentials_file(tag: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path =
            std::env::temp_dir().join(format!("ceph-warden-s3-{tag}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
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

    #[test]
    fn the_s3_probe_reads_private_credentials_and_never_shows_the_secret() {
        let private = credentials_file("private", SECRET, 0o600);
        let cfg = Config::from_toml(
            &format!(
                "[s3]\ncredentials-file = {:?}\n[daemon-types.rgw]\nprobes = [\"http\", \"s3\"]\n",
                private
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.probes("rgw"), [ProbeStep::Http, ProbeStep::S3]);
        let s3 = cfg.s3.as_ref().unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.credentials.access_key.as_str()),
            ("ceph-warden-canary", "AK")
        );
        assert!(
            !format!("{cfg:?}").contains("sekrit-value"),
            "the secret never shows"
        );
        std::fs::remove_file(private).unwrap();
    }

    #[test]
    fn s3_credentials_every_user_may_read_are_refused() {
        let shared = credentials_file("shared", SECRET, 0o644);
        let err = error_of(&format!("[s3]\ncredentials-file = {:?}\n", shared));
        assert!(
            err.contains("s3.credentials-file") && err.contains("readable by every user"),
            "{err}"
        );
        std::fs::remove_file(shared).unwrap();
    }

    #[test]
    fn a_broken_credentials_file_is_named_without_quoting_the_secret() {
        let broken = credentials_file(
            "broken",
            "access-key = \"AK\"\nsecret-key = sekrit-value\n",
            0o600,
        );
        let err = error_of(&format!("[s3]\ncredentials-file = {:?}\n", broken));
        assert!(
            err.contains("at line 2: expected access-key and secret-key strings"),
            "{err}"
        );
        assert!(
            !err.contains("sekrit"),
            "a parse error must not quote the secret: {err}"
        );
        std::fs::remove_file(broken).unwrap();
    }

    #[test]
    fn the_s3_step_needs_a_credentials_file() {
        let err = error_of("[daemon-types.rgw]\nprobes = [\"s3\"]\n");
        assert!(err.contains("\"s3\" needs [s3] credentials-file"), "{err}");
    }
}
