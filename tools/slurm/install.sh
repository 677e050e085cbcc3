#!/usr/bin/env bash
# Install the SLURM test cluster's Debian packages (slurmctld slurmd slurm-client munge) if they are missing.
# Needs root and apt-get; exit 3 where that is not possible (tests/test_slurm.py then skips).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
missing() { for cmd in munged slurmctld slurmd sbatch; do command -v "$cmd" >/dev/null || return 0; done; return 1; }

missing || exit 0
[[ $(id -u) == 0 ]] || { echo "install.sh: not root; cannot apt-get install ${PACKAGES[*]}" >&2; exit 3; }
command -v apt-get >/dev/null || { echo "install.sh: no apt-get on this machine" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
apt() { timeout 240 apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
# A fresh container has no package lists: update only when the first attempt fails.
if ! apt install --no-install-recommends "${PACKAGES[@]}"; then
    apt update && apt install --no-install-recommends "${PACKAGES[@]}" \
        || { echo "install.sh: apt-get install ${PACKAGES[*]} failed" >&2; exit 3; }
fi
missing && { echo "install.sh: packages installed but commands are missing" >&2; exit 3; }
echo "install.sh: installed ${PACKAGES[*]}"
