//! ceph-warden: a health sidecar for Ceph RADOS Gateways.
//!
//! The pieces, in reading order. The operator's inputs:
//! - [`cli`] and [`config`]: what the operator asked for, parsed (`config::raw`) then
//!   validated (`config::validate`, `config::run`, `config::s3`, `config::names`).
//!
//! The boundaries, each call under a deadline:
//! - [`subprocess`]: every external command from an argv, its process group killed at the deadline.
//! - [`ceph`]: the `ceph` CLI with the operator's arguments; its errno and stderr in the error.
//! - [`inventory`]: `ceph orch ps --format json` parsed tolerantly into [`inventory::Daemon`]s.
//! - [`probe`]: HTTP, S3-canary and admin-socket probes, classified; in-flight connection counts.
//! - [`orchestrate`]: the one narrow side-effect trait, `Orchestrator::restart`, and its backends.
//! - [`lease`]: the cluster-wide restart lease, a RADOS advisory lock taken with the `rados` CLI.
//! - [`lock`]: the flock between overlapping `check` runs; [`statefile`]: what outlives a restart.
//!
//! The core, pure and synchronous:
//! - [`machine`]: one state machine per daemon: states, agent words, actions, the snapshot.
//! - [`machine::verdict`]: what probe answers mean: the daemon's failure or the cluster's.
//! - `machine::phase` (what is true only in one phase), `machine::tracked` (one daemon),
//!   `machine::restart` (the restart path and its gate), `machine::reason` (why, as text).
//! - `machine::budget` (restarts per window, backoff), `machine::drain` (who heard the word),
//!   `machine::streaks` (fall/rise), `machine::operator` (drain, maintenance, reset).
//!
//! The shell, `ceph-warden run`, and what it serves:
//! - [`daemon`]: runs the tasks, feeds observations to the machine, carries out its actions.
//! - `daemon::listeners` (preflight, the agent and API sockets), `daemon::signals`,
//!   `daemon::loops` (the tasks' wiring), `daemon::world` (every side effect, one trait).
//! - `daemon::probing`, `daemon::health_gate`, `daemon::inventory_refresh`, `daemon::leases`:
//!   the probe chains, the health read, the inventory, and the lease-then-restart path.
//! - [`agent`]: HAProxy's agent-check listener, one reply line per poll from the snapshot.
//! - [`http`]: the admin API; [`status`]: its text and `/status` JSON; [`metrics`]: Prometheus.
//! - [`peers`]: the same probes against the daemon's peers: is it the daemon, or the cluster?
//! - [`health`]: the `ceph health detail` gate that turns a probe timeout into `degraded`.
//!
//! The one-shot commands:
//! - [`check`]: `ceph-warden check`, the 5-minute cron job done right.
//! - [`commands`]: runs one subcommand and returns its exit code; man pages and completions.
//! - [`client`]: `status`, `drain`, `undrain`, `restart`, `reset`, `maintenance`, via the API.
//! - [`ingress`]: `haproxy-config`; [`table`]: terminal tables; [`exitcode`]: the exit codes.

pub mod agent;
pub mod ceph;
pub mod check;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod exitcode;
pub mod health;
pub mod http;
pub mod ingress;
pub mod inventory;
pub mod lease;
pub mod lock;
pub mod machine;
pub mod metrics;
pub mod orchestrate;
pub mod peers;
pub mod probe;
pub mod statefile;
pub mod status;
pub mod subprocess;
pub mod table;
