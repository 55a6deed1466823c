//! ceph-warden: a health sidecar for Ceph RADOS Gateways.
//!
//! The pieces, in reading order:
//! - [`cli`] and [`config`]: what the operator asked for, parsed then validated.
//! - [`subprocess`] and [`ceph`]: every external command runs from an argv, under a timeout,
//!   with its whole process group killed when the time is up.
//! - [`inventory`]: `ceph orch ps --format json` parsed tolerantly into [`inventory::Daemon`]s.
//! - [`probe`]: HTTP probes that classify what a daemon answered (ok, busy, timeout, ...).
//! - [`orchestrate`]: the one narrow side-effect trait, `Orchestrator::restart`.
//! - [`lock`]: the flock that keeps two overlapping `check` runs from both restarting.
//! - [`machine`]: the pure decision core of the sidecar: states, agent words, actions.
//! - [`check`]: the one-shot `ceph-warden check`, the 5-minute cron job done right.
//! - [`exitcode`]: the documented process exit codes.

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
