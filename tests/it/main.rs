//! Integration tests: the real `ceph-warden` binary, driven the way an operator or cron does.
//!
//! Stand-in, named as the house rules ask: `tests/lab/fake-ceph` replaces only the `ceph` CLI's
//! orchestrator commands (no cephadm can run here). It prints real-format `ceph orch ps` JSON
//! (a fixture file, or the live lab's daemons), records its argv, and performs
//! `orch daemon restart` on the lab asynchronously, as cephadm does. Every other `ceph`
//! command it passes to the real `ceph`. The radosgw daemons of `lab` tests are real.

// Tests drive the binary synchronously (std::process) and measure wall time with std's clock.
#![allow(clippy::disallowed_methods)]

mod asok_lab;
mod cephadm_render;
mod cephadm_template;
mod check_bad_input;
mod check_concurrency;
mod check_lab;
mod check_samples;
mod client_cli;
mod completions;
mod config_files;
mod fake_cephadm;
mod ingress;
mod lab;
mod lease_lab;
mod peers_lab;
mod run_lab;
mod run_mistakes;
mod run_s3;
mod run_sidecar;
mod sidecar;
mod support;
