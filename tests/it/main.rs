//! Integration tests: the real `ceph-warden` binary, driven the way an operator or cron does.
//!
//! Stand-in, named as the house rules ask: `tests/lab/fake-ceph` replaces only the `ceph` CLI's
//! orchestrator commands (no cephadm can run here). It prints real-format `ceph orch ps` JSON
//! (a fixture file, or the live lab's daemons), records its argv, and performs
//! `orch daemon restart` on the lab asynchronously, as cephadm does. Every other `ceph`
//! command it passes to the real `ceph`. With `FAKE_CEPH_MODEL=cephadm` it hands the `orch`
//! commands to `tests/lab/fake-cephadm`, the stand-in that behaves as cephadm does (queued
//! restarts, a cached inventory, podman's stop, refusals); `fake_cephadm` tests that stand-in
//! itself. The radosgw daemons of `lab` tests are real.

// Tests drive the binary synchronously and measure wall time with std's clock: through the
// harness's blocking_command() and now(), which say why that is right for test code.

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
mod lease_lab;
mod peers_lab;
mod run_cephadm;
mod run_lab;
mod run_mistakes;
mod run_s3;
mod run_sidecar;
mod support;

// The lab harness (tests/harness: the lab, HAProxy, the sidecar and the load generator) is a
// crate of its own, which the benchmark and the demo (benches/) import too; its modules keep
// their names here.
use harness::{ingress, lab, sidecar};
