#!/usr/bin/env bash
# Builds the Debian package: target/debian/ceph-warden_<version>-1_<arch>.deb.
# The man pages and the shell completions come from the CLI definition of the binary just
# built (`ceph-warden manpage --dir`: ceph-warden.1 and one ceph-warden-<subcommand>.1 each;
# `ceph-warden completions SHELL`), so they never drift.
# Needs cargo-deb (scripts/install-deps.sh installs it). Prints the package's path last.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "build-deb.sh: cargo-deb not found (cargo install --locked cargo-deb, or scripts/install-deps.sh)" >&2
  exit 1
fi
cargo build --locked --release >&2
bin=target/release/ceph-warden
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets"
"$bin" manpage --dir "$assets/man"
gzip -9n "$assets"/man/*.1
"$bin" completions bash >"$assets/ceph-warden.bash"
"$bin" completions zsh >"$assets/_ceph-warden"
"$bin" completions fish >"$assets/ceph-warden.fish"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb="target/debian/ceph-warden_${version}-1_$(dpkg --print-architecture).deb"
mkdir -p target/debian
cargo deb --locked --no-build --output "$deb" >&2
echo "$deb"
