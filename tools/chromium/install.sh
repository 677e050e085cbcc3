#!/usr/bin/env bash
# Install headless Chromium (Debian package chromium) for the report's browser test if it is missing.
# Needs root and apt-get; exit 3 where that is not possible (tests/test_workflow.py then skips, or fails in CI).
set -euo pipefail

command -v chromium >/dev/null && exit 0
[[ $(id -u) == 0 ]] || { echo "install.sh: not root; cannot apt-get install chromium" >&2; exit 3; }
command -v apt-get >/dev/null || { echo "install.sh: no apt-get on this machine" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
apt() { timeout 240 apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
# A fresh container has no package lists: update only when the first attempt fails.
if ! apt install --no-install-recommends chromium; then
    apt update && apt install --no-install-recommends chromium \
        || { echo "install.sh: apt-get install chromium failed" >&2; exit 3; }
fi
command -v chromium >/dev/null || { echo "install.sh: chromium installed but not on PATH" >&2; exit 3; }
echo "install.sh: installed chromium"
