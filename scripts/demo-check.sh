#!/usr/bin/env bash
# The demo of `ceph-warden check`, the cron job done right (the main demo is scripts/demo.sh):
# a real Ceph lab with three real radosgw daemons, one frozen the way the incident froze them
# (process alive, port open, no answers, the orchestrator still saying "running"), and
# `ceph-warden check` finding it and restarting exactly that one.
#
# Usage (root, Debian 12):  bash scripts/demo-check.sh [--keep]
#   --keep   leave the lab running at the end (it prints how to tear it down)
# The only stand-in is tests/lab/fake-ceph for cephadm's orchestrator commands (`ceph orch ps`,
# `ceph orch daemon restart`), since cephadm cannot run here; every daemon is real.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
LAB="${CEPH_WARDEN_DEMO_DIR:-/tmp/ceph-warden-demo}"
STATE="$LAB.state"
export CEPH_LAB_RGW_PORTS="${CEPH_LAB_RGW_PORTS:-18080,18081,18082}"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

teardown() {
  if [ "$KEEP" = 1 ]; then
    printf '\nlab kept in %s. Try:\n  %s check --ceph %s --type rgw\n  (with FAKE_CEPH_LAB_DIR=%s)\nTear down with: bash tests/lab/down.sh %s\n' \
      "$LAB" "$ROOT/target/debug/ceph-warden" "$ROOT/tests/lab/fake-ceph" "$LAB" "$LAB"
    return
  fi
  say "tearing down the lab"
  bash tests/lab/down.sh "$LAB" || true
  rm -rf "$STATE"
}

say "1/6 installing packages and building ceph-warden"
bash scripts/install-deps.sh
cargo build --locked -q
WARDEN="$ROOT/target/debug/ceph-warden"

say "2/6 bringing up a real Ceph lab: mon, mgr, osd and three radosgw on 127.0.0.1"
trap teardown EXIT
trap 'exit 130' INT TERM
CEPH_LAB_NO_INSTALL=1 bash tests/lab/up.sh "$LAB"

export FAKE_CEPH_LAB_DIR="$LAB"
check() { run "$WARDEN" check --ceph "$ROOT/tests/lab/fake-ceph" --state-directory "$STATE" --type rgw --timeout 2s "$@"; }
pid_of() { cat "$LAB/run/client.rgw.$1.pid"; }

say "3/6 ceph-warden check: everything answers"
check || true

say "4/6 freezing rgw.b with SIGSTOP, as the incident froze it"
bash tests/lab/rgw-ctl.sh -d "$LAB" freeze b
PORT_B="$(grep '^CEPH_LAB_RGW_B_PORT=' "$LAB/lab.env" | cut -d= -f2)"
printf '$ curl -m 2 http://127.0.0.1:%s/   ->  ' "$PORT_B"
curl -s -o /dev/null -m 2 -w '%{http_code}\n' "http://127.0.0.1:$PORT_B/" || true
echo "(000 = no answer within 2 s; the port still accepts connections)"
run "$ROOT/tests/lab/fake-ceph" orch ps --format plain || true

say "5/6 ceph-warden check --dry-run: reports, restarts nothing (exit 1 = unhealthy)"
set +e; check --dry-run; rc=$?; set -e
echo "exit code $rc"

say "6/6 ceph-warden check: restarts exactly rgw.b"
OLD_B="$(pid_of b)"; OLD_A="$(pid_of a)"; OLD_C="$(pid_of c)"
set +e; check; rc=$?; set -e
echo "exit code $rc"
echo "waiting for the (asynchronous, as with cephadm) restart of rgw.b ..."
start=$SECONDS
until [ "$(pid_of b 2>/dev/null || echo "$OLD_B")" != "$OLD_B" ] &&
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_B/")" = 200 ]; do
  if ((SECONDS - start > 60)); then echo "rgw.b did not come back within 60 s" >&2; exit 1; fi
  sleep 0.2
done
echo "rgw.b: pid $OLD_B -> $(pid_of b), answering 200; rgw.a pid $OLD_A -> $(pid_of a), rgw.c pid $OLD_C -> $(pid_of c)"
check
echo
echo "demo done: the frozen RGW was found in one probe timeout and restarted alone."
