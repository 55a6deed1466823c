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
shellcheck -x tests/lab/*.sh tests/lab/fake-ceph scripts/*.sh scripts/deb/* .ci/run
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo build"
cargo build --locked --all-targets
echo "== ceph-warden check-config systemd/ceph-warden.example.toml"
./target/debug/ceph-warden check-config systemd/ceph-warden.example.toml
echo "== promtool check rules monitoring/ceph-warden-alerts.yml"
promtool check rules monitoring/ceph-warden-alerts.yml
echo "== haproxy -c -f haproxy/haproxy.cfg"
haproxy -c -q -f haproxy/haproxy.cfg
if command -v systemd-analyze >/dev/null 2>&1; then
  echo "== systemd-analyze verify systemd/ceph-warden.service"
  # The unit names the installed binary; verify a copy that names the one just built.
  unit_dir="$(mktemp -d)"
  sed "s|/usr/bin/ceph-warden|$PWD/target/debug/ceph-warden|" systemd/ceph-warden.service >"$unit_dir/ceph-warden.service"
  # --man=no: the man page it documents is installed by the package (scripts/test-deb.sh checks that).
  systemd-analyze verify --man=no "$unit_dir/ceph-warden.service"
  echo "== systemd-analyze security (exposure at most 2.0; docs/operations.md records the score)"
  systemd-analyze security --offline=true --threshold=20 --no-pager "$unit_dir/ceph-warden.service" | tail -1
  rm -rf "$unit_dir"
fi
echo "== cargo test"
# Two at a time: the end-to-end tests run real Ceph labs and measure recovery times, which
# CPU contention on a 2-core machine would distort.
cargo test --locked --no-fail-fast -- --test-threads=2
echo "== the Debian package: build, install, run as its user, purge"
bash scripts/test-deb.sh 2>&1 | grep -v '^ *Compiling '
echo "== the demo (README's first command), short: timeline, summary, nothing left behind"
demo_log="$(mktemp)"
if ! bash scripts/demo.sh --short >"$demo_log" 2>&1; then
  tail -60 "$demo_log"
  echo "demo: FAILED" >&2
  exit 1
fi
sed -n '/== side by side/,$p' "$demo_log"
grep -q '  sidecar  ' "$demo_log" || { echo "demo: no sidecar lines in the timeline" >&2; exit 1; }
grep -q '  clients  ' "$demo_log" || { echo "demo: no client lines in the timeline" >&2; exit 1; }
if compgen -G '/tmp/ceph-warden-lab-demo-*' >/dev/null || compgen -G '/tmp/ceph-warden-it-demo-*' >/dev/null; then
  echo "demo: directories left behind" >&2
  exit 1
fi
if pgrep -af 'ceph-warden-lab-demo-|ceph-warden-it-demo-'; then
  echo "demo: processes left behind" >&2
  exit 1
fi
rm -f "$demo_log"
echo "demo: ok"
