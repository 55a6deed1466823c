//! The file as written: serde structs that mirror the TOML (`deny_unknown_fields`, kebab-case),
//! each default a named function.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ProbeStep;

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
pub(super) struct RawS3Credentials {
    pub(super) access_key: String,
    pub(super) secret_key: String,
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
    /// At most this percentage of a service's RGWs (that this sidecar watches; at least one
    /// when above 0) drained at once for shedding load (busy), Envoy's `max_ejection_percent`.
    /// Default 33: the rest take the share. 0: never drained for load.
    #[serde(default = "default_max_load_drain_percent")]
    pub max_load_drain_percent: u32,
    /// A probe starts every interval, whether or not the previous one finished. Default
    /// `"250ms"`: with `fall` 2 and the learned deadline at its floor, a frozen RGW is called
    /// failed 0.5-0.75 s after it froze, plus up to one agent-inter for HAProxy to ask.
    #[serde(default = "default_probe_interval")]
    pub probe_interval: String,
    /// The ceiling of each probe step's learned deadline, and the deadline while nothing is
    /// learned yet. Default `"1s"`: RGW answers `GET /` in milliseconds; a frozen RGW never does.
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout: String,
    /// The floor of each probe step's learned deadline (5x the service's typical 95th
    /// percentile). Default `"250ms"`: 50x a loaded lab RGW's `GET /`, and above the
    /// scheduling hiccups of a busy 2-core host.
    #[serde(default = "default_probe_timeout_floor")]
    pub probe_timeout_floor: String,
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
    /// How to kill a hung daemon whose restart the orchestrator took, so the restart need not
    /// wait for the stop's SIGTERM timeout (podman's 10 s): `systemd` (`systemctl kill
    /// --signal=SIGKILL` of cephadm's unit, needs `[systemd] fsid`), `command` (`[command]
    /// kill`) or `off`. Default `systemd` when `[systemd] fsid` is set, else `off`.
    #[serde(default)]
    pub kill_hung: Option<String>,
    /// HAProxy's `agent-inter` for our servers; the drain confirmation waits at most 3 of them
    /// by default. Default `"500ms"` (haproxy/haproxy.cfg).
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
    /// argv template of `run.kill-hung = "command"`: kills the daemon's hung process (the
    /// same placeholders). Never run by a shell.
    #[serde(default)]
    pub kill: Vec<String>,
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
pub(super) fn default_admin_socket() -> String {
    "/var/run/ceph/*/ceph-client.{name}*.asok".to_string()
}
fn default_rados_stall_after() -> String {
    "1s".to_string()
}
/// RGW: a GET that times out is checked against the admin socket (a RADOS stall under load
/// makes every RGW's GET wait; a frozen RGW's socket does not answer). Without a socket at
/// the configured place the asok step finds no stall and changes nothing.
pub(super) fn default_probes(daemon_type: &str) -> Vec<ProbeStep> {
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
pub(super) fn default_http_listen() -> String {
    "127.0.0.1:9481".to_string()
}
fn default_max_load_drain_percent() -> u32 {
    33
}
fn default_max_agent_connections() -> u32 {
    256
}
fn default_probe_interval() -> String {
    "250ms".to_string()
}
fn default_probe_timeout_floor() -> String {
    "250ms".to_string()
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
    "500ms".to_string()
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
            kill: Vec::new(),
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
            max_load_drain_percent: default_max_load_drain_percent(),
            probe_interval: default_probe_interval(),
            probe_timeout: default_probe_timeout(),
            probe_timeout_floor: default_probe_timeout_floor(),
            inventory_interval: default_inventory_interval(),
            inventory: default_inventory_source(),
            orchestrators: default_orchestrators(),
            kill_hung: None,
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
