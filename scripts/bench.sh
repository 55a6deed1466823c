#!/usr/bin/env bash
# The whole benchmark: agent and footprint, then every scenario in the cephadm, cron, warden
# and warden-instant setups on the real lab, one after another (about 30 minutes on 2 cores). Rewrites
# docs/BENCHMARKS.md and docs/bench/*.svg. As root on Debian 12, like the tests.
# Arguments go to the benchmark: --rate N, --freeze S, --cron-interval S, --scenarios a,b
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
# The footprint figures are the release build's, as the package ships it.
cargo build --locked --release
cargo bench --locked --bench freeze -- "$@"
