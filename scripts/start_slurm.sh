#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the `slurm`-marked tests
# (tests/test_sweep_slurm.py) and CI: Debian's munge, slurmctld and slurmd, started as plain
# root processes (no systemd).
#
# Idempotent: installs the packages only when missing (apt-get, root on Debian), writes
# /etc/slurm/slurm.conf only when it does not exist, starts only the daemons that are not
# running, and returns once `sinfo` shows the node idle (or mixed/allocated: already in use).
# Output of apt-get is kept in a log shown only on failure.
set -euo pipefail
host="$(hostname -s)"
cpus="$(nproc)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 \
    || ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "start_slurm: SLURM missing and cannot apt-get install it here (need root on Debian)" >&2
    exit 1
  fi
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  echo "start_slurm: installing Debian's slurmctld, slurmd, slurm-client and munge ..."
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends slurmctld slurmd slurm-client munge; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
fi

if [ "$(id -u)" -ne 0 ]; then
  # Not root: usable only if a cluster is already up.
  sinfo -h -o %T 2>/dev/null | grep -Eq 'idle|mixed|alloc' && exit 0
  echo "start_slurm: SLURM is not running and starting it needs root" >&2
  exit 1
fi

conf=/etc/slurm/slurm.conf
if [ ! -f "$conf" ]; then
  install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat >"$conf" <<EOF
# Written by lidep scripts/start_slurm.sh: a one-node cluster for tests and CI.
ClusterName=lidep
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
KillWait=30
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
fi

if [ ! -s /etc/munge/munge.key ]; then
  install -d -o munge -g munge -m 700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -Eq 'idle|mixed|alloc'; then
    echo "start_slurm: $(sinfo -h -o '%P %D %T %C' | head -n 1)"
    exit 0
  fi
  sleep 1
done
echo "start_slurm: the node did not become idle within 60 s; sinfo says:" >&2
sinfo >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
