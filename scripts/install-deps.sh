#!/usr/bin/env bash
# Installs what ceph-warden's tests and demo need on a Debian 12 machine, as root: HAProxy,
# the Ceph packages of the lab (mon, mgr, osd, radosgw, CLI), and what the package test reads
# the installed package with (man, bash-completion, dpkg-parsechangelog). Idempotent. The Rust
# toolchain (rustup's cargo with clippy and rustfmt) is expected to be there already.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: must run as root (apt-get install; the lab runs Ceph daemons)" >&2
  exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps.sh: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
  exit 1
fi

# man-db, bash-completion and dpkg-dev (dpkg-parsechangelog): scripts/test-deb.sh checks the
# package's man pages, its bash completion as bash-completion loads it, and its changelog.
packages=(adduser haproxy ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl procps iproute2 python3 python3-jinja2 openssl shellcheck prometheus
  man-db bash-completion dpkg-dev)
echo "install-deps: apt-get update && apt-get install ${packages[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps: $(haproxy -v | head -1); $(ceph --version)" >&2
# cargo-deb builds the Debian package (scripts/build-deb.sh); pinned, and built once (about 2
# minutes on 2 cores). gzip instead of xz: no C library to build.
# CEPH_WARDEN_NO_DEB=1 skips it (the demo does not need it).
cargo_deb_version=3.8.0
if [ "${CEPH_WARDEN_NO_DEB:-0}" != 1 ] && [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
  echo "install-deps: cargo install cargo-deb $cargo_deb_version" >&2
  cargo install --quiet --locked cargo-deb --version "$cargo_deb_version" --no-default-features --features gzip
fi
