//! The command line: subcommands, flags and their help texts (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes of `check`:
  0   every daemon checked answered (busy counts as alive)
  1   a daemon failed its probe; every restart asked for was accepted (or none was asked for)
  2   a restart command failed
  3   the inventory could not be read (ceph missing, failing, hanging, or printing garbage),
      or the state directory is unusable; nothing was restarted
  4   another `ceph-warden check` holds the lock; nothing was checked or restarted
  64  bad command line; 70 internal error; 78 bad configuration file";

/// Health sidecar for Ceph RADOS Gateways.
#[derive(Debug, Parser)]
#[command(name = "ceph-warden", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Log more on stderr: -v info, -vv debug (RUST_LOG overrides).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe the rgw and node-exporter daemons of `ceph orch ps` once, restart the ones that do
    /// not answer (the 5-minute cron job, done right).
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Validate a configuration file and exit (0 when valid, 78 otherwise).
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Run the sidecar: probe this host's daemons, answer HAProxy's agent checks and the HTTP
    /// API, take a failed daemon out of rotation, restart it, put it back once it is healthy.
    Run {
        /// Configuration file [default: /etc/ceph-warden/ceph-warden.toml when it exists].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the `server` lines of the shipped HAProxy config's backend (examples/haproxy.cfg)
    /// for the RGWs `ceph orch ps` lists, each with its agent-send tag.
    HaproxyConfig {
        /// Configuration file (for the ceph CLI and run.agent-listen's port).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only this host's daemons [default: every host].
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// The daemon type [default: rgw].
        #[arg(long = "type", value_name = "TYPE", default_value = "rgw")]
        daemon_type: String,
    },
    /// Print the man page (roff) on stdout: `ceph-warden manpage > ceph-warden.1`.
    Manpage {
        /// Write every page instead, ceph-warden.1 and ceph-warden-<subcommand>.1, into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Show what the sidecar sees and why (its `GET /`; `--json` for `GET /status`).
    Status {
        #[command(flatten)]
        api: ApiArgs,
        /// The full JSON snapshot instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Take a daemon out of rotation (HAProxy `drain`) until `undrain`; survives sidecar restarts.
    Drain(DaemonArgs),
    /// Put a drained daemon back in rotation.
    Undrain(DaemonArgs),
    /// Planned restart: drain, wait for every HAProxy and for in-flight requests, restart,
    /// verify, put back. With --wait, until it is back in rotation (or is not).
    #[command(after_help = RESTART_EXIT_CODES)]
    Restart(RestartArgs),
    /// Clear a `held` daemon's restart budget so it is restarted again.
    Reset(DaemonArgs),
    /// Put a daemon in (`on`) or take it out of (`off`) maintenance: HAProxy `maint`, no
    /// probes acted on, no restarts; survives sidecar restarts.
    Maintenance {
        #[command(flatten)]
        target: DaemonArgs,
        /// on or off.
        #[arg(value_enum)]
        set: OnOff,
    },
}

/// Where the sidecar's HTTP API is: `--api`, else `run.http-listen` of the configuration.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The sidecar's HTTP API: HOST:PORT (127.0.0.1:9481, [::1]:9481, localhost:9481) or an
    /// http:// URL [default: run.http-listen of --config, else 127.0.0.1:9481].
    #[arg(long, value_name = "HOST:PORT|URL", value_parser = parse_api_arg)]
    pub api: Option<crate::client::ApiUrl>,
    /// Read where the API listens (run.http-listen; 0.0.0.0 means 127.0.0.1) from this
    /// configuration file [default: /etc/ceph-warden/ceph-warden.toml when it exists].
    #[arg(long, value_name = "FILE", conflicts_with = "api")]
    pub config: Option<PathBuf>,
}

const RESTART_EXIT_CODES: &str = "\
Exit codes of `restart`:
  0   the restart was asked for; with --wait: the daemon is back in rotation after it
  1   the sidecar refused the restart; with --wait: the restart failed, the daemon is held or
      failed, or --timeout passed first (the message says what it was last seen doing)
  3   the sidecar's API could not be reached
  64  bad command line; 78 bad configuration file";

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: DaemonArgs,
    /// Wait until the daemon is back in rotation after the restart, printing each state it
    /// goes through; exit 1 when the restart fails or the daemon ends up held or failed.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long, e.g. 90s or 15m [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg, requires = "wait")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The daemon, as `ceph orch ps` names it (e.g. rgw.lab.host1.abcdef).
    pub daemon: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file [default: /etc/ceph-warden/ceph-warden.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Daemon type to check; repeat for more [default: rgw, node-exporter].
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only daemons on this host (passed to `ceph orch ps HOST`) [default: every host].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Per-probe timeout, e.g. 5s or 500ms [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub timeout: Option<Duration>,
    /// Probe and report, restart nothing (the exit code still says unhealthy).
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Restart at most this many daemons in this run [default: 3].
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,
    /// The ceph CLI to run [default: ceph, from PATH].
    #[arg(long, value_name = "PATH")]
    pub ceph: Option<String>,
    /// An argument for every ceph call, put before the command, after the config's
    /// `ceph.args`; repeat for more (e.g. --ceph-arg=--conf=/etc/ceph/ceph.conf).
    #[arg(long = "ceph-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub ceph_args: Vec<String>,
    /// Directory for the lock file [default: /var/lib/ceph-warden].
    #[arg(long, value_name = "DIR")]
    pub state_directory: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text)
}

fn parse_api_arg(text: &str) -> Result<crate::client::ApiUrl, String> {
    crate::client::ApiUrl::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn check_flags_parse() {
        let cli = Cli::try_parse_from([
            "ceph-warden",
            "check",
            "--type",
            "rgw",
            "--type",
            "mgr",
            "--timeout",
            "500ms",
            "--ceph-arg",
            "--conf",
            "--ceph-arg",
            "/etc/ceph/ceph.conf",
            "--dry-run",
            "--format",
            "json",
        ])
        .unwrap();
        let Command::Check(args) = cli.command else {
            panic!("not check");
        };
        assert_eq!(args.types, ["rgw", "mgr"]);
        assert_eq!(args.timeout, Some(Duration::from_millis(500)));
        assert_eq!(args.ceph_args, ["--conf", "/etc/ceph/ceph.conf"]);
        assert!(args.dry_run);
        assert_eq!(args.format, Format::Json);
    }

    #[test]
    fn api_takes_host_port_or_a_url_and_config_conflicts_with_it() {
        for (arg, want) in [
            ("127.0.0.1:39481", "http://127.0.0.1:39481"),
            ("[::1]:9481", "http://[::1]:9481"),
            ("localhost:9481", "http://localhost:9481"),
            ("http://127.0.0.1:9481", "http://127.0.0.1:9481"),
            ("http://127.0.0.1:9481/", "http://127.0.0.1:9481"),
        ] {
            let cli = Cli::try_parse_from(["ceph-warden", "status", "--api", arg]).unwrap();
            let Command::Status { api, .. } = cli.command else {
                panic!("not status");
            };
            assert_eq!(api.api.unwrap().to_string(), want);
        }
        for (arg, want) in [
            (
                "localhost",
                "invalid value 'localhost' for '--api <HOST:PORT|URL>'",
            ),
            ("9481", "9481 is a port alone"),
            ("https://127.0.0.1:9481", "plain HTTP"),
        ] {
            let err = Cli::try_parse_from(["ceph-warden", "drain", "rgw.a", "--api", arg])
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{arg}: {err}");
        }
        let err = Cli::try_parse_from([
            "ceph-warden",
            "status",
            "--api",
            "127.0.0.1:1",
            "--config",
            "/etc/x.toml",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot be used with"), "{err}");
    }

    #[test]
    fn restart_timeout_needs_wait() {
        let cli = Cli::try_parse_from([
            "ceph-warden",
            "restart",
            "rgw.a",
            "--wait",
            "--timeout",
            "90s",
        ])
        .unwrap();
        let Command::Restart(args) = cli.command else {
            panic!("not restart");
        };
        assert!(args.wait);
        assert_eq!(args.timeout, Some(Duration::from_secs(90)));
        assert_eq!(args.target.daemon, "rgw.a");
        let err = Cli::try_parse_from(["ceph-warden", "restart", "rgw.a", "--timeout", "90s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--wait"), "{err}");
    }

    #[test]
    fn a_duration_without_unit_is_refused() {
        let err = Cli::try_parse_from(["ceph-warden", "check", "--timeout", "5"]).unwrap_err();
        assert!(err.to_string().contains("like \"5s\""), "{err}");
    }
}
