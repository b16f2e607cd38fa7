#!/bin/bash
# Figures of docs/performance.md "Attach throughput", end to end: a daemon on a fresh state dir,
# `ctr-trio run` of 200 MB of `yes` into a file (its exit code, `wc -c`, sha256 against yes's
# own), `GET /state`'s time every half second meanwhile, and the CPU of the daemon's processes.
# Run from the repo root, under the test lock:
#   flock /tmp/containerd-trio-test.lock scripts/attach-run.sh [CODE_DIR] [PORT] [BYTES] [ID]
# CODE_DIR: the checkout whose daemon and client run (default: this one).
CODE=$(cd "${1:-.}" && pwd); PORT=${2:-18950}; BYTES=${3:-209715200}; ID=${4:-attach-run}
D=$(mktemp -d /tmp/attach-run.XXXXXX)
.venv/bin/python examples/make-bundle.py $D/bundle -- sh -c "yes | head -c $BYTES" >/dev/null
env PYTHONPATH=$CODE .venv/bin/containerd-trio --listen 127.0.0.1:$PORT --state-dir $D/state \
    --log-level warning --shutdown-timeout 1 2>$D/daemon.log &
K=$!
for i in $(seq 100); do curl -sf 127.0.0.1:$PORT/state >/dev/null && break; sleep 0.1; done
(while :; do curl -s -o /dev/null -w '%{time_total}\n' 127.0.0.1:$PORT/state; sleep 0.5; done) >$D/state-times &
P=$!
echo "start $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
T0=$(date +%s.%N)
/usr/bin/time -f "the client's CPU: %U s user, %S s system" env PYTHONPATH=$CODE .venv/bin/ctr-trio \
    --address 127.0.0.1:$PORT run -b $D/bundle $ID >$D/out 2>$D/err
RC=$?
T1=$(date +%s.%N)
kill $P
echo "exit $RC after $(echo "$T1 - $T0" | bc) s: $(wc -c <$D/out) bytes, whole: $(
    [ "$(sha256sum <$D/out)" = "$(yes | head -c $BYTES | sha256sum)" ] && echo yes || echo no)"
cat $D/err
sort -n $D/state-times | awk '{t[NR] = $1} END {printf "GET /state: %d answers, median %.3f s, 90th percentile %.3f s, at most %.3f s\n", NR, t[int(NR / 2) + 1], t[int(NR * 0.9) + 1], t[NR]}'
ps -o pid=,time=,args= --ppid $K | grep -E "_logger|server" | sed 's/^/CPU: /'
kill $K; wait $K
rm -rf $D
