#!/usr/bin/env bash
# Bring up a throwaway single-node SLURM cluster with two fake GPUs (tests/test_slurm.py uses it; it also
# lets you try profiles/slurm by hand). Needs root and Debian's packages (tools/slurm/install.sh).
#
#   tools/slurm/up.sh /tmp/xaibench-slurm      # munged, slurmctld, slurmd; partitions `cpu` and `gpu`
#   sinfo; sbatch --gpus=1 --wrap 'env | grep CUDA'; squeue --states=all
#   tools/slurm/down.sh /tmp/xaibench-slurm    # cancels jobs, stops the three daemons by PID
#
# Everything lives under STATE_DIR except /etc/slurm/{slurm,gres}.conf: the executor plugin removes every
# SLURM_* variable (SLURM_CONF too) before the srun inside each job, so the config has to be where SLURM
# looks by default. An /etc/slurm/slurm.conf that this script did not write is never touched (exit 3).
# The daemons run in the foreground of background processes (no systemd, no cgroups); their PIDs are in
# STATE_DIR/run/*.pid and down.sh stops exactly those.
set -euo pipefail

STATE=$(realpath -m "${1:?usage: up.sh STATE_DIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
ETC=/etc/slurm
MARKER="xaibench-test-cluster state=$STATE"
NODE=xaibench-node
WAIT_S=${XAIBENCH_SLURM_WAIT_S:-30}

# running PID: the process exists and is not a zombie.
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat") != Z ]]; }
refuse() { echo "up.sh: $*" >&2; exit 3; }
die() {
    echo "up.sh: $*" >&2
    bash "$HERE/down.sh" "$STATE"
    exit 1
}

[[ $(id -u) == 0 ]] || refuse "needs root (munged, slurmd and /etc/slurm)"
for cmd in munged munge slurmctld slurmd sbatch squeue scontrol sinfo scancel; do
    command -v "$cmd" >/dev/null || refuse "$cmd not installed (run tools/slurm/install.sh)"
done

# Never take over a real cluster's configuration, nor a test cluster that is still running.
if [[ -e $ETC/slurm.conf ]]; then
    old=$(grep -o 'xaibench-test-cluster state=[^ ]*' "$ETC/slurm.conf" || true)
    [[ -n $old ]] || refuse "$ETC/slurm.conf exists and was not written by this script; not touching it"
    for pidfile in "${old#xaibench-test-cluster state=}"/run/*.daemon.pid; do
        [[ -e $pidfile ]] && running "$(cat "$pidfile")" \
            && refuse "a test cluster is still running ($old); stop it with tools/slurm/down.sh"
    done
    echo "up.sh: replacing the config of a stopped test cluster ($old)"
fi
for comm in /proc/[0-9]*/comm; do
    name=$(cat "$comm" 2>/dev/null) || continue
    pid=${comm#/proc/} && pid=${pid%/comm}
    if [[ $name == slurmctld || $name == slurmd ]] && running "$pid"; then
        refuse "a $name is already running on this machine (PID $pid)"
    fi
done

mkdir -p "$STATE"/{munge,ctld,spool,run,log,dev}
chmod 711 "$STATE" "$STATE/munge"

# Two character devices that slurmd accepts as GPU files (major/minor of /dev/null).
for i in 0 1; do [[ -e $STATE/dev/gpu$i ]] || mknod "$STATE/dev/gpu$i" c 1 3; done

# munge with its own key and socket, so a system munged (if any) is left alone.
[[ -e $STATE/munge/munge.key ]] || { head -c 1024 /dev/urandom >"$STATE/munge/munge.key"; }
chmod 400 "$STATE/munge/munge.key"

cpus=$(nproc)
((cpus >= 8)) || cpus=8
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
((mem_mb >= 8192)) || mem_mb=8192
render() {
    sed -e "s|@STATE@|$STATE|g" -e "s|@NODE@|$NODE|g" -e "s|@HOST@|$(hostname -s)|g" \
        -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" -e "s|@MARKER@|$MARKER|g" "$1"
}
mkdir -p "$ETC"
render "$HERE/slurm.conf.in" >"$ETC/slurm.conf"
render "$HERE/gres.conf.in" >"$ETC/gres.conf"
cp "$ETC/slurm.conf" "$ETC/gres.conf" "$STATE/"

# start NAME CMD...: run CMD in the background (stdin/stdout/stderr detached, so callers that capture our
# output do not wait for the daemons) and record its PID.
start() {
    local name=$1
    shift
    "$@" </dev/null >"$STATE/log/$name.out" 2>&1 &
    echo $! >"$STATE/run/$name.daemon.pid"
}
# wait_for WHAT CMD...: poll CMD (each try bounded to 5 s) until it succeeds, for at most WAIT_S seconds.
wait_for() {
    local what=$1
    shift
    local deadline=$((SECONDS + WAIT_S))
    until timeout 5 "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what did not come up in ${WAIT_S} s; logs in $STATE/log"
        sleep 0.5
    done
}

SOCKET=$STATE/munge/munge.socket
start munged munged --foreground --force --socket="$SOCKET" --key-file="$STATE/munge/munge.key" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munged.seed"
wait_for munged bash -c "munge -n -S '$SOCKET' | unmunge -S '$SOCKET'"

start slurmctld slurmctld -D -i
wait_for slurmctld bash -c "scontrol ping | grep -q UP"

start slurmd slurmd -D -N "$NODE"
wait_for "the node" bash -c "sinfo -h -N -o %T | grep -qx idle"

sinfo
echo "up.sh: test cluster up; state in $STATE; stop it with: $HERE/down.sh $STATE"
