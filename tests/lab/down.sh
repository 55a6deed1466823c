#!/usr/bin/env bash
# ceph-warden test lab, down.sh: stops exactly the processes up.sh started (by their pid files,
# and only while the pid still belongs to a ceph process of this lab), then removes the lab dir.
#
# Usage: down.sh [DIR]        (default: $CEPH_LAB_DIR or /tmp/ceph-warden-lab)
#   CEPH_LAB_KEEP=1   stop the daemons but keep the directory (logs) for a post-mortem
# Safe to run twice and on a missing directory; refuses a directory without the lab marker.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

T0=$SECONDS
set_paths "${1:-${CEPH_LAB_DIR:-/tmp/ceph-warden-lab}}"
if [ ! -e "$LAB" ]; then
  [ "${CEPH_LAB_QUIET:-0}" = 1 ] || log "$LAB does not exist; nothing to do"
  exit 0
fi
[ -e "$MARKER" ] || die "$LAB has no lab marker; refusing to touch it"

if [ -d "$RUN" ]; then
  # No restart starts an RGW from now on; one under way (the stand-in orchestrator's, recorded
  # in run/restarter-*.pending) is waited for, so that the RGW it starts is stopped below.
  touch "$LAB/stopping"
  # The stand-in cephadm's serve loop first, so that it starts no RGW any more; it cuts a podman
  # stop under way short (SIGKILL) when told to stop.
  terminate cephadm-serve 15
  restarts_done() {
    local f pid
    for f in "$RUN"/restarter-*.pending; do
      [ -e "$f" ] || continue
      pid="$(tr -cd '0-9' <"$f")"
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 1; fi
    done
  }
  poll 30 "the stand-in orchestrator's restarts to finish" restarts_done || true
  # One still under way (a lab so loaded that the old RGW took long to stop) would start an RGW
  # after the ones below were stopped: end its process group (it runs under setsid, so its pid
  # is the group's), checked to be a restarter by its command line.
  for f in "$RUN"/restarter-*.pending; do
    [ -e "$f" ] || continue
    pid="$(tr -cd '0-9' <"$f")"
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF " fake-ceph-restart "; then
      log "a stand-in restart (pid $pid) is still under way; ending its process group"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  done
  # Clients first (RGWs), then mgr, osd, and the mon last; then anything else with a pid file.
  for f in "$RUN"/client.*.pid; do
    if [ -e "$f" ]; then terminate "$(basename "$f" .pid)" 10; fi
  done
  for name in mgr.x osd.0 mon.a; do terminate "$name" 15; done
  for f in "$RUN"/*.pid; do
    if [ -e "$f" ]; then terminate "$(basename "$f" .pid)" 10; fi
  done
fi

if [ "${CEPH_LAB_KEEP:-0}" = 1 ]; then
  rm -f "$ENV_FILE"
  log "daemons stopped; kept $LAB"
else
  rm -rf --one-file-system "$LAB"
  [ "${CEPH_LAB_QUIET:-0}" = 1 ] || log "lab $LAB stopped and removed ($((SECONDS - T0))s)"
fi
