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
#   accept-dead ID  kill beast's accept loop for good, the process and its admin socket alive:
#                 one accept failed with EMFILE (Pacific logs it and never accepts again, Ceph
#                 tracker 67338); port open, connections queue, GET / never answered
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

# Beast's accept loop dead: its soft RLIMIT_NOFILE lowered to the lowest free descriptor
# number, so the next descriptor the process opens fails with EMFILE; one connection to its
# port makes that the listener's accept; the limit is restored at once. Pacific's beast logs
# `accept failed: Too many open files` and does not accept on that listener again, while the
# threads that already have their descriptors (the admin socket's too) go on. Another thread
# may take or free a descriptor in the window, so it is tried a few times until the log says it.
kill_accept_loop() {
  local log="$LOGS/ceph-$name.log" soft lowest fd attempt before
  soft="$(prlimit --pid "$pid" --nofile --noheadings --output SOFT)"
  for attempt in 1 2 3 4 5; do
    before="$(grep -c 'accept failed' "$log" || true)"
    lowest=0
    for fd in $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n); do
      [ "$fd" = "$lowest" ] || break
      lowest=$((lowest + 1))
    done
    prlimit --pid "$pid" --nofile="$lowest:"
    curl -s -o /dev/null -m 0.5 "http://127.0.0.1:$port/" || true
    prlimit --pid "$pid" --nofile="$soft:"
    if [ "$(grep -c 'accept failed' "$log" || true)" -gt "$before" ]; then
      log "$name (pid $pid): accept loop dead ($(grep 'accept failed' "$log" | tail -1 | sed 's/.*accept failed/accept failed/'), attempt $attempt)"
      return 0
    fi
  done
  die "$name: no accept failed in $log after 5 attempts"
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
  accept-dead) need_id; need_alive; kill_accept_loop ;;
  *) die "unknown command '$cmd' (status|pid|freeze|thaw|stop|kill|start|restart|hc-off|hc-on|accept-dead)" ;;
esac
