#!/usr/bin/env bash
# The whole benchmark (benches/freeze.rs): the agent and footprint section, then every scenario
# (one-frozen, one-killed, all-frozen, planned-restart, osd-frozen-20, osd-frozen-45, slowdown)
# in every setup (cephadm, haproxy-only, warden) 5 times, the setups taking turns, on a real
# lab (one per scenario, restored between cells). Expected duration on the 2-core machine:
# about 45 minutes after the build (it prints its own estimate first, and the report says how
# long it took); `--setups cephadm,cron,haproxy-only,warden` adds the seed cron job's setup
# (about 60 minutes). Rewrites docs/BENCHMARKS.md and docs/bench/*.svg; keeps each cell's HAProxy
# log in target/bench-logs/. As root on Debian 12, like the tests.
# Arguments go to the benchmark (`cargo bench --bench freeze -- --help`), e.g. --repeats N,
# --rate N, --scenarios a,b, --setups a,b (cron, warden-instant too), --freeze S, --cron-interval S,
# --footprint yes|no|only, --out FILE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
# The footprint figures are the release build's, as the package ships it.
cargo build --locked --release
cargo bench --locked --bench freeze -- "$@"
