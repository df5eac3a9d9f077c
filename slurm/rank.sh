#!/bin/sh
# rank.sh — what the launcher (slurm/launch.sh) runs as each rank: the first rank of each
# node removes Open MPI shared-memory segments that an earlier, killed job left on the
# node, then every rank execs the command it was given (the trainer), so Slurm and mpirun
# signal the trainer itself.
#
#   rank.sh CMD [ARGS...]
#
# Open MPI's shared-memory transport (vader) creates /dev/shm/vader_segment.HOST.JOB.RANK
# per rank and unlinks it when the job ends normally; a job killed with SIGKILL (a node
# lost, a step killed after KillWait) leaves its segments behind, each as large as the
# rank's buffers, until someone deletes them. A segment is removed only when it
#   - is named for this host and owned by this user,
#   - is older than this launch (ED_LAUNCH_T0, seconds since the epoch, set by launch.sh:
#     the ranks of this launch create theirs later), and
#   - is mapped by no process on the machine (a job still running keeps its segments).
# The local rank comes from Slurm (SLURM_LOCALID) or Open MPI (OMPI_COMM_WORLD_LOCAL_RANK).
if [ "${SLURM_LOCALID:-${OMPI_COMM_WORLD_LOCAL_RANK:-0}}" = 0 ] && [ -n "${ED_LAUNCH_T0:-}" ] && [ -d /dev/shm ]; then
    host=$(hostname)
    # /proc/PID/maps names every mapped file; readable for our own processes (and all as root).
    n=$(find /dev/shm -maxdepth 1 -name "vader_segment.$host.*" -user "$(id -u)" ! -newermt "@$ED_LAUNCH_T0" 2>/dev/null |
        while read -r f; do
            if ! grep -qsF "$f" /proc/[0-9]*/maps && rm -f "$f"; then echo "$f"; fi
        done | wc -l)
    [ "$n" -eq 0 ] || echo "rank.sh on $host: removed $n stale Open MPI shared-memory segment(s) of an earlier job (/dev/shm/vader_segment.$host.*)"
fi
exec "$@"
