#!/usr/bin/env bash
# The demo, the README's first command: the incident replayed on a real lab, twice. Three real
# radosgw behind a real HAProxy under client load, first with cephadm's stock ingress config
# alone, then with haproxy/haproxy.cfg and `ceph-warden run`; each time rgw.b freezes, then all
# three. A live timeline (clients, HAProxy, the sidecar) and a side-by-side summary; everything
# is torn down at the end and on Ctrl-C. About 3 minutes after the build.
#
# Usage (root, Debian 12):  bash scripts/demo.sh [--keep] [--short]
#   --keep    leave the warden setup running and print what to try with curl
#   --short   halve the waits (CI runs it so)
# The only stand-in is tests/lab/fake-ceph for cephadm's orchestrator commands; every daemon
# is real. The check demo of the cron job's replacement: scripts/demo-check.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CEPH_WARDEN_NO_DEB=1 bash scripts/install-deps.sh
echo "== building ceph-warden (release) and the demo" >&2
cargo build --locked --release --quiet
cargo bench --locked --quiet --bench demo --no-run
exec cargo bench --locked --quiet --bench demo -- "$@"
