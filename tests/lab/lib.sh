# shellcheck shell=bash
# ceph-warden test lab: helpers sourced by up.sh, down.sh and rgw-ctl.sh (never run directly).
# A lab lives in one directory: its ceph.conf, keyring, data, logs, pid files and lab.env.
# Nothing is written to /etc/ceph or /var/lib/ceph, and no process is ever signalled unless its
# pid comes from the lab's own pid files and its command line names the lab's ceph.conf.

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# set_paths DIR: the lab's paths (LAB CONF RUN LOGS MARKER ENV_FILE SETTINGS).
# shellcheck disable=SC2034
set_paths() {
  LAB="$1"
  case "$LAB" in /*) ;; *) LAB="$(pwd)/$LAB" ;; esac
  case "$LAB" in *[[:space:]]*) die "lab dir must not contain whitespace: '$LAB'" ;; esac
  [ "$LAB" != / ] || die "refusing to use / as the lab dir"
  CONF="$LAB/ceph.conf"
  RUN="$LAB/run"
  LOGS="$LAB/log"
  MARKER="$LAB/.ceph-warden-lab"
  ENV_FILE="$LAB/lab.env"
  SETTINGS="$LAB/settings"
}

# recorded_pid NAME: the pid in run/NAME.pid (digits only), or nothing.
recorded_pid() {
  local file="$RUN/$1.pid"
  if [ -s "$file" ]; then tr -dc '0-9' <"$file"; fi
}

# proc_state PID: R, S, T (stopped), Z ... from /proc, empty when gone.
proc_state() { awk '/^State:/ {print $2; exit}' "/proc/$1/status" 2>/dev/null || true; }

# is_ours PID: alive, not a zombie, and started with this lab's ceph.conf (guards against pid reuse).
is_ours() {
  local pid="$1"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $CONF " || return 1
  [ "$(proc_state "$pid")" != Z ]
}

# spawn NAME CMD...: starts CMD detached in its own session, output to log/NAME.out, pid to run/NAME.pid.
spawn() {
  local name="$1"
  shift
  setsid "$@" </dev/null >>"$LOGS/$name.out" 2>&1 &
  echo "$!" >"$RUN/$name.pid"
}

# terminate NAME [GRACE]: SIGCONT (it may be frozen), SIGTERM, SIGKILL after GRACE seconds.
terminate() {
  local name="$1" grace="${2:-10}" pid i
  pid="$(recorded_pid "$name")"
  if ! is_ours "$pid"; then
    rm -f "$RUN/$name.pid"
    return 0
  fi
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    is_ours "$pid" || break
    sleep 0.1
  done
  if is_ours "$pid"; then
    log "$name (pid $pid) ignored SIGTERM for ${grace}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      is_ours "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$RUN/$name.pid"
}

# poll SECONDS WHAT CMD...: runs CMD every 0.2 s until it succeeds; fails after SECONDS.
poll() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "gave up after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# http_code URL [TIMEOUT]: the status of GET URL, 000 when nothing answered.
http_code() { curl -s -o /dev/null -m "${2:-5}" -w '%{http_code}' "$1" 2>/dev/null || true; }

rgw_is_up() { [ "$(http_code "http://127.0.0.1:$1/" 3)" = 200 ]; }

# lab_ceph ARGS...: the real ceph CLI against this lab, bounded in time.
lab_ceph() { timeout 60 ceph -c "$CONF" --connect-timeout 30 "$@"; }

# load_settings: the ids, ports and keys saved by up.sh.
load_settings() {
  [ -r "$SETTINGS" ] || return 1
  # shellcheck disable=SC1090
  . "$SETTINGS"
}

# port_of ID: the port of RGW ID (ids and ports are parallel lists).
port_of() {
  local want="$1" id i=0
  local -a ports
  read -r -a ports <<<"$RGW_PORTS"
  for id in $RGW_IDS; do
    if [ "$id" = "$want" ]; then
      echo "${ports[$i]}"
      return 0
    fi
    i=$((i + 1))
  done
  return 1
}

# env_name ID: ID as it appears in lab.env keys (upper case, . and - as _).
env_name() { echo "$1" | tr '[:lower:].-' '[:upper:]__'; }

start_rgw() { spawn "client.rgw.$1" radosgw -c "$CONF" -f -n "client.rgw.$1"; }

# write_env: lab.env, one KEY=value per line (no quotes), from the settings and the pid files.
write_env() {
  local id port key endpoints=""
  {
    echo "# ceph-warden test lab, written $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "CEPH_LAB_DIR=$LAB"
    echo "CEPH_CONF=$CONF"
    echo "CEPH_LAB_FSID=$FSID"
    echo "CEPH_LAB_MON_HOST=$MON_HOST"
    echo "CEPH_LAB_KEYRING=$LAB/keyring"
    echo "CEPH_LAB_RUN_DIR=$RUN"
    echo "CEPH_LAB_LOG_DIR=$LOGS"
    echo "CEPH_LAB_MON_PID=$(recorded_pid mon.a)"
    echo "CEPH_LAB_MON_ASOK=$RUN/ceph-mon.a.asok"
    echo "CEPH_LAB_MGR_PID=$(recorded_pid mgr.x)"
    echo "CEPH_LAB_MGR_ASOK=$RUN/ceph-mgr.x.asok"
    echo "CEPH_LAB_OSD_PID=$(recorded_pid osd.0)"
    echo "CEPH_LAB_OSD_ASOK=$RUN/ceph-osd.0.asok"
    echo "CEPH_LAB_RGW_IDS=${RGW_IDS// /,}"
    echo "CEPH_LAB_RGW_PORTS=${RGW_PORTS// /,}"
    for id in $RGW_IDS; do
      port="$(port_of "$id")"
      key="CEPH_LAB_RGW_$(env_name "$id")"
      endpoints="${endpoints:+$endpoints,}http://127.0.0.1:$port"
      echo "${key}_NAME=client.rgw.$id"
      echo "${key}_DAEMON=rgw.$id"
      echo "${key}_PORT=$port"
      echo "${key}_URL=http://127.0.0.1:$port"
      echo "${key}_PID=$(recorded_pid "client.rgw.$id")"
      echo "${key}_ASOK=$RUN/ceph-client.rgw.$id.asok"
      echo "${key}_LOG=$LOGS/ceph-client.rgw.$id.log"
      echo "${key}_HEALTHCHECK_DISABLE_FILE=$RUN/ceph-client.rgw.$id.healthcheck-disabled"
    done
    echo "CEPH_LAB_RGW_ENDPOINTS=$endpoints"
    echo "CEPH_LAB_S3_USER=$S3_USER"
    echo "CEPH_LAB_S3_ACCESS_KEY=$S3_ACCESS_KEY"
    echo "CEPH_LAB_S3_SECRET_KEY=$S3_SECRET_KEY"
  } >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}
