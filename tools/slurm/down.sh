#!/usr/bin/env bash
# Stop the test cluster that tools/slurm/up.sh STATE_DIR started: cancel its jobs, stop slurmd, slurmctld and
# munged by the PIDs up.sh recorded (nothing else), and remove the /etc/slurm files up.sh wrote.
# Safe to run twice, or after an up.sh that failed half-way.
set -uo pipefail

STATE=$(realpath -m "${1:?usage: down.sh STATE_DIR}")
ETC=/etc/slurm
MARKER="xaibench-test-cluster state=$STATE"

ours() { [[ -e $ETC/slurm.conf ]] && grep -qF "$MARKER" "$ETC/slurm.conf"; }
# running PID: the process exists and is not a zombie.
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat") != Z ]]; }
alive() { [[ -e $STATE/run/$1.daemon.pid ]] && running "$(cat "$STATE/run/$1.daemon.pid")"; }

# Cancel the jobs first: their slurmstepd processes would outlive slurmd.
if ours && alive slurmctld; then
    jobs=$(timeout 10 squeue -h -t PENDING,RUNNING,COMPLETING,SUSPENDED -o %A 2>/dev/null | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
        echo "down.sh: cancelling jobs $jobs"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs
        for _ in $(seq 30); do
            [[ -z $(timeout 5 squeue -h -t PENDING,RUNNING,COMPLETING -o %A 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
fi

# stop NAME: TERM (then KILL after 10 s) the PID up.sh recorded for NAME, if it is still that program.
stop() {
    local name=$1 pidfile=$STATE/run/$1.daemon.pid pid
    [[ -e $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            running "$pid" || break
            sleep 0.1
        done
        running "$pid" && kill -KILL "$pid"
        echo "down.sh: stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}
stop slurmd
stop slurmctld
stop munged

if ours; then
    rm -f "$ETC/slurm.conf" "$ETC/gres.conf"
fi
