#!/usr/bin/env bash
# ceph-warden test lab, up.sh: a throwaway single-host Ceph cluster of real daemons from Debian's
# packages, on 127.0.0.1 only: mon.a, mgr.x, osd.0 (memstore) and N radosgw (client.rgw.a, b, ...)
# with the beast frontend. No systemd, no cephadm, no containers: everything in one directory.
# Beside them runs the serve loop of the stand-in cephadm (fake-cephadm serve, idle unless
# fake-ceph is used with FAKE_CEPH_MODEL=cephadm), pid in run/cephadm-serve.pid.
#
# Usage: up.sh [DIR]                        (default: $CEPH_LAB_DIR or /tmp/ceph-warden-lab)
# Environment (all optional):
#   CEPH_LAB_RGW_PORTS   RGW ports, space or comma separated         default "18080 18081 18082"
#   CEPH_LAB_RGW_IDS     RGW ids, parallel to the ports               default a b c ...
#   CEPH_LAB_MON_PORT    mon msgr2 port (msgr1 uses PORT+1)           default 13300
#   CEPH_LAB_TIMEOUT     seconds to wait for each stage               default 180
#   CEPH_LAB_NO_INSTALL  1: never run apt-get
#   CEPH_LAB_S3_USER / CEPH_LAB_S3_ACCESS_KEY / CEPH_LAB_S3_SECRET_KEY   the S3 user it creates
# Idempotent: on a lab that is up it starts missing RGWs, thaws frozen ones, waits for all to
# answer 200 and rewrites lab.env; a lab whose mon/mgr/osd died is rebuilt from scratch.
# Several labs can run at once with different directories and ports (osd and mgr pick free
# ports in 6800-7300 themselves). Prints the endpoints; writes DIR/lab.env (KEY=value lines).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

T0=$SECONDS
set_paths "${1:-${CEPH_LAB_DIR:-/tmp/ceph-warden-lab}}"
WANT_PORTS="$(echo "${CEPH_LAB_RGW_PORTS:-18080 18081 18082}" | tr ',' ' ' | xargs)"
if [ -n "${CEPH_LAB_RGW_IDS:-}" ]; then
  WANT_IDS="$(echo "$CEPH_LAB_RGW_IDS" | tr ',' ' ' | xargs)"
else
  WANT_IDS=""
  letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
  n=0
  for _ in $WANT_PORTS; do
    WANT_IDS="${WANT_IDS:+$WANT_IDS }${letters[$n]}"
    n=$((n + 1))
  done
fi
[ "$(wc -w <<<"$WANT_IDS")" = "$(wc -w <<<"$WANT_PORTS")" ] ||
  die "CEPH_LAB_RGW_IDS ($WANT_IDS) and CEPH_LAB_RGW_PORTS ($WANT_PORTS) differ in length"
for p in $WANT_PORTS; do case "$p" in '' | *[!0-9]*) die "bad RGW port '$p'" ;; esac; done
MON_PORT="${CEPH_LAB_MON_PORT:-13300}"
TIMEOUT="${CEPH_LAB_TIMEOUT:-180}"

# 1. packages -----------------------------------------------------------------------------------
missing=0
for bin in ceph-mon ceph-mgr ceph-osd radosgw ceph radosgw-admin ceph-authtool monmaptool curl; do
  command -v "$bin" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  [ "${CEPH_LAB_NO_INSTALL:-0}" != 1 ] || die "Ceph packages missing and CEPH_LAB_NO_INSTALL=1"
  log "installing ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl >/dev/null
fi

# 2. an existing lab: reuse it when its core daemons live, else rebuild ---------------------------
if [ -e "$LAB" ] && [ ! -e "$MARKER" ] && [ -n "$(ls -A "$LAB" 2>/dev/null)" ]; then
  die "$LAB exists, is not empty and is not a lab directory; refusing to touch it"
fi
reuse=0
if [ -e "$MARKER" ] && load_settings; then
  reuse=1
  for d in mon.a mgr.x osd.0; do is_ours "$(recorded_pid "$d")" || reuse=0; done
  if [ "$reuse" = 1 ] && { [ "$RGW_PORTS" != "$WANT_PORTS" ] || [ "$RGW_IDS" != "$WANT_IDS" ]; }; then
    die "the lab in $LAB runs RGWs '$RGW_IDS' on '$RGW_PORTS', not '$WANT_IDS' on '$WANT_PORTS'; run down.sh first"
  fi
  [ "$reuse" = 1 ] || log "the lab in $LAB lost its mon/mgr/osd; rebuilding it"
fi
if [ -e "$MARKER" ] && [ "$reuse" = 0 ]; then
  CEPH_LAB_QUIET=1 bash "$HERE/down.sh" "$LAB"
fi

if [ "$reuse" = 0 ]; then
  # A failed build stops what it started and keeps the logs (down.sh removes the directory).
  cleanup_on_failure() {
    local rc=$?
    if [ "$rc" != 0 ] && [ -e "$MARKER" ]; then
      log "bring-up failed; stopping what it started (logs kept in $LOGS)"
      CEPH_LAB_KEEP=1 CEPH_LAB_QUIET=1 bash "$HERE/down.sh" "$LAB" || true
    fi
  }
  trap cleanup_on_failure EXIT

  # 3. a fresh cluster ---------------------------------------------------------------------------
  for p in $WANT_PORTS "$MON_PORT" "$((MON_PORT + 1))"; do
    if ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then die "port $p is already in use"; fi
  done
  mkdir -p "$RUN" "$LOGS" "$LAB/mon/ceph-a" "$LAB/mgr/ceph-x" "$LAB/osd/ceph-0" "$LAB/crash"
  touch "$MARKER"
  FSID="$(cat /proc/sys/kernel/random/uuid)"
  MON_HOST="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$((MON_PORT + 1))]"
  RGW_IDS="$WANT_IDS"
  RGW_PORTS="$WANT_PORTS"
  S3_USER="${CEPH_LAB_S3_USER:-lab}"
  S3_ACCESS_KEY="${CEPH_LAB_S3_ACCESS_KEY:-LABACCESSKEY00000001}"
  S3_SECRET_KEY="${CEPH_LAB_S3_SECRET_KEY:-labsecretkey0000000000000000000000000001}"
  for var in FSID MON_HOST RGW_IDS RGW_PORTS S3_USER S3_ACCESS_KEY S3_SECRET_KEY; do
    printf "%s='%s'\n" "$var" "${!var}"
  done >"$SETTINGS"

  {
    cat <<EOF_CONF
# ceph-warden test lab; generated by tests/lab/up.sh
[global]
fsid = $FSID
mon host = $MON_HOST
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $LAB/keyring
run dir = $RUN
crash dir = $LAB/crash
log file = $LOGS/\$cluster-\$name.log
pid file =
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0

[client]
# the ceph / radosgw-admin CLIs: no admin socket, log beside the daemons
admin socket =
log file = $LOGS/cli.log

[mon]
admin socket = $RUN/\$cluster-\$name.asok
mon data = $LAB/mon/\$cluster-\$id
mon cluster log file = $LOGS/cluster.log
# commit map changes every 0.1 s instead of 1 s: pool creation (RGW start) is about 5x faster
paxos propose interval = 0.1

[mgr]
admin socket = $RUN/\$cluster-\$name.asok
mgr data = $LAB/mgr/\$cluster-\$id

[osd]
admin socket = $RUN/\$cluster-\$name.asok
osd data = $LAB/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 4294967296
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2
# A PG's read lease is osd_heartbeat_grace x osd_pool_default_read_lease_ratio (20 s x 0.8).
# With one OSD nothing ever marks a frozen OSD down, and PGs whose lease ran out during a freeze
# can stay laggy after the thaw, their ops parked for minutes (ceph/ceph#71663). Measured with
# a 40 s SIGSTOP under PUT load: 1 of 4 runs wedged at 20 s (13 laggy PGs); 0 of 4 at 120 s
# (lease 96 s). The tests freeze the OSD for at most 30 s.
osd heartbeat grace = 120
EOF_CONF
    for id in $RGW_IDS; do
      cat <<EOF_RGW

[client.rgw.$id]
admin socket = $RUN/\$cluster-\$name.asok
log file = $LOGS/\$cluster-\$name.log
rgw data = $LAB/rgw/\$cluster-\$id
rgw frontends = beast endpoint=127.0.0.1:$(port_of "$id")
rgw healthcheck disabling path = $RUN/ceph-client.rgw.$id.healthcheck-disabled
# No lifecycle threads. In their work window (rgw lifecycle work time, default 00:00-06:00) a
# young radosgw's LC worker sleeps 5 s after each shard lock it cannot get ("failed to acquire
# lock on lc.N, sleep 5"), and SIGTERM waits that sleep out: measured at 04:31 UTC, a stop took
# 4.0-4.1 s with them and 0.3-0.4 s without, so every restart's timing hung on the hour of the run.
rgw enable lc threads = false
EOF_RGW
    done
  } >"$CONF"
  for id in $RGW_IDS; do mkdir -p "$LAB/rgw/ceph-rgw.$id"; done

  # Every key up front; the mon imports them at mkfs.
  KEYRING="$LAB/keyring"
  ceph-authtool --create-keyring "$KEYRING" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$KEYRING" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$KEYRING" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$KEYRING" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
  for id in $RGW_IDS; do
    ceph-authtool "$KEYRING" --gen-key -n "client.rgw.$id" \
      --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  done
  chmod 600 "$KEYRING"

  monmaptool --create --fsid "$FSID" --addv a "$MON_HOST" "$LAB/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$LAB/monmap" --keyring "$KEYRING" >>"$LOGS/mkfs.out" 2>&1 ||
    die "ceph-mon --mkfs failed; see $LOGS/mkfs.out"
  spawn mon.a ceph-mon -c "$CONF" -f -i a
  poll "$TIMEOUT" "mon quorum" lab_ceph quorum_status || die "no mon quorum; see $LOGS/ceph-mon.a.log"
  log "mon.a up"

  spawn mgr.x ceph-mgr -c "$CONF" -f -i x

  OSD_UUID="$(cat /proc/sys/kernel/random/uuid)"
  osd_id="$(lab_ceph osd new "$OSD_UUID" 0)"
  [ "$osd_id" = 0 ] || die "expected osd id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$LOGS/mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed; see $LOGS/mkfs.out"
  spawn osd.0 ceph-osd -c "$CONF" -f -i 0
  osd_is_up() { lab_ceph osd dump --format json 2>/dev/null | grep -q '"up":1'; }
  poll "$TIMEOUT" "osd.0 up" osd_is_up || die "osd.0 did not come up; see $LOGS/ceph-osd.0.log"
  log "osd.0 up"
fi

# 4. RGWs: start the missing ones, thaw frozen ones, wait for 200 ----------------------------------
for id in $RGW_IDS; do
  pid="$(recorded_pid "client.rgw.$id")"
  if is_ours "$pid"; then
    [ "$(proc_state "$pid")" != T ] || { log "client.rgw.$id was frozen; SIGCONT"; kill -CONT "$pid"; }
  else
    start_rgw "$id"
  fi
done
for id in $RGW_IDS; do
  port="$(port_of "$id")"
  poll "$TIMEOUT" "client.rgw.$id answering 200 on :$port" rgw_is_up "$port" ||
    die "client.rgw.$id did not answer 200 on 127.0.0.1:$port; see $LOGS/ceph-client.rgw.$id.log"
done

if [ "$reuse" = 0 ]; then
  timeout 60 radosgw-admin -c "$CONF" user create --uid="$S3_USER" --display-name="lab user" \
    --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$LAB/s3-user.json" 2>>"$LOGS/cli.out" ||
    die "radosgw-admin user create failed; see $LOGS/cli.out"
fi

# 5. the stand-in cephadm's serve loop (tests/lab/fake-cephadm): runs the queued orchestrator
# actions of the cephadm model; idle otherwise. down.sh stops it first.
if ! is_ours "$(recorded_pid cephadm-serve)"; then
  spawn cephadm-serve /usr/bin/python3 "$HERE/fake-cephadm" serve -c "$CONF"
fi
serve_loop_up() { [ -p "$LAB/cephadm/kick" ] && is_ours "$(recorded_pid cephadm-serve)"; }
poll 30 "the stand-in cephadm's serve loop" serve_loop_up || die "fake-cephadm serve did not start; see $LOGS/cephadm-serve.out"

write_env
trap - EXIT
log "lab ready in $((SECONDS - T0))s: $LAB"
for id in $RGW_IDS; do
  printf '  client.rgw.%-4s pid %-8s http://127.0.0.1:%s/\n' "$id" "$(recorded_pid "client.rgw.$id")" "$(port_of "$id")"
done
