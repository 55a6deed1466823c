#!/usr/bin/env bash
# ceph-warden test lab, rgw-ctl.sh: act on one radosgw of a running lab: the faults the tests
# inject, and what a restart by the orchestrator does on a real host.
#
# Usage: rgw-ctl.sh [-d DIR] COMMAND [ID]     (DIR default: $CEPH_LAB_DIR or /tmp/ceph-warden-lab)
#   status [ID]   pid, process state, GET / status (every RGW without ID)
#   pid ID        the current pid
#   freeze ID     SIGSTOP: alive, port accepts TCP connects, no HTTP answers (the incident)
#   thaw ID       SIGCONT
#   stop ID       SIGCONT + SIGTERM (SIGKILL after 10 s): a clean stop, port closed
#   kill ID       SIGKILL: a crash, port closed
#   start ID      start it if not running; wait for GET / 200
#   restart ID    stop (frozen or not) + start + wait for 200; prints the seconds it took
#   hc-off ID     create its rgw_healthcheck_disabling_path file: /swift/healthcheck -> 503
#   hc-on ID      remove it: /swift/healthcheck -> 200 (GET / is 200 either way)
# ID is a, b, ...; rgw.a and client.rgw.a work too. lab.env is rewritten when a pid changes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

dir="${CEPH_LAB_DIR:-/tmp/ceph-warden-lab}"
if [ "${1:-}" = -d ]; then
  dir="${2:?-d needs a directory}"
  shift 2
fi
set_paths "$dir"
{ [ -e "$MARKER" ] && load_settings; } || die "no lab in $LAB (run up.sh first)"

cmd="${1:-status}"
id="${2:-}"
id="${id#client.}"
id="${id#rgw.}"
TIMEOUT="${CEPH_LAB_TIMEOUT:-120}"

need_id() {
  [ -n "$id" ] || die "$cmd needs an RGW id (one of: $RGW_IDS)"
  port="$(port_of "$id")" || die "unknown RGW id '$id' (known: $RGW_IDS)"
  name="client.rgw.$id"
  pid="$(recorded_pid "$name")"
}
need_alive() { is_ours "$pid" || die "$name is not running"; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }'; }

bring_up() {
  if ! is_ours "$(recorded_pid mon.a)" || ! is_ours "$(recorded_pid osd.0)"; then
    die "the lab's mon/osd are not running; run up.sh"
  fi
  if is_ours "$pid"; then
    [ "$(proc_state "$pid")" != T ] || kill -CONT "$pid"
  else
    start_rgw "$id"
  fi
  poll "$TIMEOUT" "$name answering 200 on :$port" rgw_is_up "$port" ||
    die "$name did not answer 200; see $LOGS/ceph-$name.log"
  write_env
}

case "$cmd" in
  status)
    for i in ${id:-$RGW_IDS}; do
      n="client.rgw.$i" p="$(recorded_pid "client.rgw.$i")" st=-
      if is_ours "$p"; then st="$(proc_state "$p")"; else p=-; fi
      printf '%-14s pid %-8s state %-2s port %-6s GET / -> %s\n' "$n" "$p" "$st" "$(port_of "$i")" \
        "$(http_code "http://127.0.0.1:$(port_of "$i")/" 2)"
    done
    ;;
  pid) need_id; need_alive; echo "$pid" ;;
  freeze) need_id; need_alive; kill -STOP "$pid"; log "$name (pid $pid) frozen (SIGSTOP)" ;;
  thaw) need_id; need_alive; kill -CONT "$pid"; log "$name (pid $pid) thawed (SIGCONT)" ;;
  stop) need_id; terminate "$name" 10; write_env; log "$name stopped" ;;
  kill)
    need_id; need_alive; kill -KILL "$pid"
    gone() { ! is_ours "$pid"; }
    poll 10 "$name to die" gone || die "$name (pid $pid) survived SIGKILL"
    rm -f "$RUN/$name.pid"; write_env; log "$name (pid $pid) killed (SIGKILL)"
    ;;
  start | restart) [ ! -e "$LAB/stopping" ] || die "the lab is being torn down; not starting client.rgw.${id:-?}" ;;&
  start) need_id; t0="$(now)"; bring_up; log "$name up, pid $(recorded_pid "$name")"; took "$t0" ;;
  restart)
    need_id; t0="$(now)"
    terminate "$name" 10
    pid=""
    bring_up
    log "$name restarted, pid $(recorded_pid "$name")"
    took "$t0"
    ;;
  hc-off) need_id; touch "$RUN/ceph-$name.healthcheck-disabled"; log "$name: /swift/healthcheck now answers 503" ;;
  hc-on) need_id; rm -f "$RUN/ceph-$name.healthcheck-disabled"; log "$name: /swift/healthcheck now answers 200" ;;
  *) die "unknown command '$cmd' (status|pid|freeze|thaw|stop|kill|start|restart|hc-off|hc-on)" ;;
esac
