#!/usr/bin/env bash
# Install what ccds and its tests need on a Debian/Ubuntu machine: nginx with the RTMP module and
# ffmpeg (the local cloud's nodes and probes), chromium (the dashboard test drives it through
# Playwright; Playwright's own browser download is never used), Go and govmomi (the vCenter simulator,
# scripts/vcsim.sh), then ccds itself with the dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need_apt=0
for cmd in nginx ffmpeg ffprobe chromium; do command -v "$cmd" >/dev/null 2>&1 || need_apt=1; done
ls /usr/lib/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1 || need_apt=1
command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ] || need_apt=1
if [ "$need_apt" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nginx-light libnginx-mod-rtmp ffmpeg \
    chromium golang-go golang-github-vmware-govmomi-dev
fi
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
command -v terraform >/dev/null 2>&1 || command -v tofu >/dev/null 2>&1 || \
  echo "note: install terraform (>= 1.5) or OpenTofu: https://developer.hashicorp.com/terraform/install" >&2
# checkov (tests/security/test_checkov.py) in a virtualenv of its own: it pins old boto3 and packaging.
if [ ! -x .venv-checkov/bin/checkov ]; then
  python3 -m venv .venv-checkov && .venv-checkov/bin/pip install -q --disable-pip-version-check "checkov>=3.2,<4"
fi
# The vSphere test bed (vCenter simulator from Debian's govmomi + terraform-provider-vsphere 2.0.2 in a
# filesystem mirror, cached in ~/.cache/ccds/vsphere): tests/vsphere run against it.
bash scripts/vcsim.sh
