#!/usr/bin/env bash
# The package test (CI runs it after the cargo tests), as root on Debian 12: builds the .deb,
# installs it on this machine with apt, checks what it put where, starts the sidecar the way
# the installed unit does (its ExecStart, as its User, without systemd, which CI does not run
# as init) against a local HTTP backend, then purges the package and checks nothing is left.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "deb test: FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Polls a condition until a deadline instead of sleeping a guessed time.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${seconds}s"
    sleep 0.1
  done
}

if dpkg-query -W -f='${Status}' ceph-warden 2>/dev/null | grep -q 'install ok'; then
  fail "ceph-warden is already installed here; this test installs and purges it (apt-get purge ceph-warden first)"
fi

deb=$(bash scripts/build-deb.sh)
echo "== deb test: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/  \1:/p'

scratch=$(mktemp -d)
backend_pid=""
sidecar_pid=""
cleanup() {
  [ -z "$sidecar_pid" ] || kill "$sidecar_pid" 2>/dev/null || true
  [ -z "$backend_pid" ] || kill "$backend_pid" 2>/dev/null || true
  rm -rf "$scratch" /run/ceph-warden
  # Never leave the package behind, whatever failed.
  if dpkg-query -W -f='${Status}' ceph-warden 2>/dev/null | grep -q 'install ok'; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ceph-warden >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "./$deb" >/dev/null

version=$(/usr/bin/ceph-warden --version)
[ "$version" = "ceph-warden $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ] || fail "--version says '$version'"
echo "  installed: $version"
getent passwd ceph-warden | grep -q ':/var/lib/ceph-warden:/usr/sbin/nologin$' || fail "no ceph-warden system user"
[ "$(stat -c '%U:%G %a' /var/lib/ceph-warden)" = "ceph-warden:ceph-warden 750" ] || fail "/var/lib/ceph-warden: $(stat -c '%U:%G %a' /var/lib/ceph-warden)"
[ "$(stat -c '%U:%G %a' /etc/ceph-warden)" = "root:ceph-warden 750" ] || fail "/etc/ceph-warden: $(stat -c '%U:%G %a' /etc/ceph-warden)"
unit=/usr/lib/systemd/system/ceph-warden.service
[ -f "$unit" ] || fail "no unit at $unit"
command -v man >/dev/null 2>&1 || fail "man(1) is missing: install man-db (scripts/install-deps.sh)"
zcat /usr/share/man/man1/ceph-warden.1.gz | grep -q '^\.TH ceph-warden 1' || fail "no man page"
# Every page the main page names (its subcommands' pages, SEE ALSO) is found by man, ours where
# the package put them, and every page renders without a groff warning.
refs=$(zcat /usr/share/man/man1/ceph-warden.1.gz | sed 's/\\-/-/g; s/\\f[BIRP]//g' \
  | grep -o '[a-z][a-z0-9._-]*([0-9])' | sort -u)
ours=0
for ref in $refs; do
  name=${ref%(*}; section=${ref#*(}; section=${section%)}
  page=$(man -w "$section" "$name" 2>/dev/null) || fail "ceph-warden(1) names $ref: man -w does not find it"
  case $name in
    ceph-warden*)
      [ "$page" = "/usr/share/man/man$section/$name.$section.gz" ] || fail "$ref is $page, not the package's"
      ours=$((ours + 1)) ;;
  esac
done
shipped=$(find /usr/share/man/man1 -name 'ceph-warden-*.1.gz' | wc -l)
if [ "$ours" -lt 10 ] || [ "$ours" != "$shipped" ]; then
  fail "ceph-warden(1) names $ours ceph-warden-* pages, the package ships $shipped"
fi
for page in /usr/share/man/man1/ceph-warden*.1.gz; do
  warnings=$(man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page"
  [ -z "$warnings" ] || fail "$page: $warnings"
done
echo "  man: ceph-warden(1) and its $ours subcommand pages installed; every page it names found: $(echo "$refs" | tr '\n' ' ')"
# Bash completion as an operator's shell gets it: bash-completion's loader finds the script by
# the command's name, and it completes a subcommand's options.
[ -r /usr/share/bash-completion/bash_completion ] || fail "bash-completion is missing (scripts/install-deps.sh)"
# shellcheck disable=SC2016 # expanded by the inner bash
completed=$(bash --norc --noprofile -c '
  source /usr/share/bash-completion/bash_completion
  __load_completion ceph-warden || exit 1
  spec=$(complete -p ceph-warden) || exit 1
  fn=${spec#*-F }; fn=${fn%% *}
  COMP_WORDS=(ceph-warden check --ty); COMP_CWORD=2
  "$fn" ceph-warden --ty check
  echo "${COMPREPLY[*]}"') || fail "bash-completion does not load the package's completion for ceph-warden"
[ "$completed" = "--type" ] || fail "ceph-warden check --ty<TAB> completes to '$completed', not --type"
echo "  bash completion: loaded by bash-completion; 'ceph-warden check --ty' -> $completed"
for f in /usr/share/zsh/vendor-completions/_ceph-warden /usr/share/fish/vendor_completions.d/ceph-warden.fish \
  /usr/share/doc/ceph-warden/examples/ceph-warden.toml /usr/share/doc/ceph-warden/examples/haproxy.cfg \
  /usr/share/doc/ceph-warden/install.md /usr/share/doc/ceph-warden/operations.md \
  /usr/share/doc/ceph-warden/troubleshooting.md; do
  [ -s "$f" ] || fail "missing $f"
done
# The changelog install.md tells operators to read before an upgrade: installed, in Debian
# format, and its newest entry is this package's version.
changelog=/usr/share/doc/ceph-warden/changelog.Debian.gz
[ -s "$changelog" ] || fail "no $changelog"
zcat "$changelog" >"$scratch/changelog"
changelog_version=$(dpkg-parsechangelog -l "$scratch/changelog" -S Version) || fail "$changelog is not a Debian changelog"
package_version=$(dpkg-query -W -f='${Version}' ceph-warden)
[ "$changelog_version" = "$package_version" ] || fail "the changelog's newest entry is $changelog_version, the package is $package_version"
echo "  changelog: $changelog, newest entry $changelog_version"
/usr/bin/ceph-warden check-config /usr/share/doc/ceph-warden/examples/ceph-warden.toml >/dev/null || fail "the shipped example config does not validate"
if command -v systemd-analyze >/dev/null 2>&1; then
  # --man=yes: verify also checks that the man page the unit names is installed.
  systemd-analyze verify --man=yes "$unit" || fail "systemd-analyze verify $unit"
fi
echo "  files, user, directories, unit: ok"

# Start it as the unit would: its ExecStart, its User (setpriv execs: the pid is the
# sidecar's own, as under systemd), its StateDirectory/RuntimeDirectory.
backend_port=$(free_port)
mkdir -p "$scratch/www"
python3 -m http.server --bind 127.0.0.1 --directory "$scratch/www" "$backend_port" >/dev/null 2>&1 &
backend_pid=$!
agent_port=$(free_port)
http_port=$(free_port)
cat >/etc/ceph-warden/ceph-warden.toml <<TOML
[run]
inventory = "static"
agent-listen = "127.0.0.1:$agent_port"
http-listen = "127.0.0.1:$http_port"
[[static]]
name = "rgw.deb"
url = "http://127.0.0.1:$backend_port/"
TOML
chgrp ceph-warden /etc/ceph-warden/ceph-warden.toml
chmod 0640 /etc/ceph-warden/ceph-warden.toml
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
install -d -m 0755 -o "$user" -g "$user" /run/ceph-warden
# shellcheck disable=SC2086 # ExecStart is a command line: split it as systemd does.
setpriv --reuid="$user" --regid="$user" --init-groups -- $exec_start >"$scratch/sidecar.log" 2>&1 &
sidecar_pid=$!
agent_says() { python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$agent_port),2); s.sendall(b'rgw.deb\n'); print(s.recv(64).decode().strip())" 2>/dev/null; }
ready() { [ "$(agent_says)" = "up ready" ]; }
wait_for "the installed sidecar's agent says 'up ready' for rgw.deb; log: $(cat "$scratch/sidecar.log")" 20 ready
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/health/rgw.deb")" = 200 ] || fail "/health/rgw.deb is not 200"
agent_word=$(agent_says)
# An operator drain through the installed CLI: the agent says so, and the state file the
# service user writes keeps it.
/usr/bin/ceph-warden drain --api "http://127.0.0.1:$http_port" rgw.deb >/dev/null || fail "ceph-warden drain"
drained() { [ "$(agent_says)" = "drain" ]; }
wait_for "the agent says 'drain' after ceph-warden drain" 10 drained
wait_for "the state file written as $user" 10 test -s /var/lib/ceph-warden/state.json
[ "$(stat -c %U /var/lib/ceph-warden/state.json)" = "$user" ] || fail "state file not owned by $user"
grep -q '"rgw.deb"' /var/lib/ceph-warden/state.json || fail "the drain is not in the state file"
echo "  '$exec_start' as $user: agent says '$agent_word', /health/rgw.deb 200; ceph-warden drain -> 'drain', kept in the state file"
kill -TERM "$sidecar_pid"
stopped() { ! kill -0 "$sidecar_pid" 2>/dev/null; }
wait_for "SIGTERM stops the sidecar" 15 stopped
wait "$sidecar_pid" || fail "exit status $? after SIGTERM"
sidecar_pid=""

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ceph-warden >/dev/null
for f in /usr/bin/ceph-warden "$unit" /var/lib/ceph-warden /etc/ceph-warden /usr/share/doc/ceph-warden \
  /usr/share/man/man1/ceph-warden*.1.gz /usr/share/bash-completion/completions/ceph-warden; do
  [ ! -e "$f" ] || fail "$f left behind by purge"
done
! dpkg-query -W -f='${Status}' ceph-warden 2>/dev/null | grep -q 'install ok' || fail "still installed after purge"
echo "  purge: binary, unit, docs, state and config gone (the system user stays, as Debian policy has it)"
echo "deb test: ok"
