//! The process exit codes of `ceph-warden`, documented in the README and in `--help`.
//!
//! A cron wrapper or a monitoring check can tell each outcome apart without parsing output.
//! Usage, internal and config errors use the BSD `sysexits.h` numbers, as systemd tooling does.

/// Every daemon checked answered (or was busy, which means alive).
pub const OK: u8 = 0;
/// At least one daemon failed its probe; every restart asked for was accepted (or none was asked
/// for: `--dry-run`, `--max-restarts` reached, or the orchestrator said it was starting).
pub const UNHEALTHY: u8 = 1;
/// At least one restart command failed.
pub const RESTART_FAILED: u8 = 2;
/// The job could not be done: the `ceph` CLI is missing, failed, hung, or printed something
/// that is not an inventory; or the state directory could not be used. Nothing was restarted.
pub const ORCHESTRATOR: u8 = 3;
/// Another `ceph-warden check` holds the lock; this run checked and restarted nothing.
pub const LOCKED: u8 = 4;
/// The command line was wrong (`EX_USAGE`).
pub const USAGE: u8 = 64;
/// `run` could not listen on its agent or HTTP address (`EX_OSERR`).
pub const OS_ERROR: u8 = 71;
/// `run` cannot write its state directory (`EX_CANTCREAT`): it would promise drains and
/// restart budgets that a restart of the sidecar forgets.
pub const CANT_CREATE: u8 = 73;
/// A bug or an environment failure such as the async runtime not starting (`EX_SOFTWARE`).
pub const INTERNAL: u8 = 70;
/// The configuration file is malformed or invalid (`EX_CONFIG`).
pub const CONFIG: u8 = 78;
