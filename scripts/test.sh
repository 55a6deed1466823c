#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this), on a fresh Debian 12
# machine as root: installs the packages, then formatting, lints, the shipped config's
# validation, and every test (unit, integration, and end-to-end on a real Ceph lab).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --check
echo "== shellcheck"
shellcheck -x tests/lab/*.sh tests/lab/fake-ceph scripts/*.sh .ci/run
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo build"
cargo build --locked --all-targets
echo "== ceph-warden check-config systemd/ceph-warden.example.toml"
./target/debug/ceph-warden check-config systemd/ceph-warden.example.toml
echo "== cargo test"
cargo test --locked --no-fail-fast -- --test-threads=4
