#!/bin/sh
# Figures of docs/performance.md "Output under pressure": downloading a 191 MB log, and its
# tail, idle and while five containers run yes. Run from the repo root, under the test lock:
#   flock /tmp/containerd-trio-test.lock sh scripts/log-figures.sh
set -e
D=/tmp/logdl; rm -rf $D; mkdir -p $D
.venv/bin/python examples/make-bundle.py $D/bundle -- sh -c "yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456 | head -n 1000000; sleep 1000" >/dev/null
.venv/bin/python examples/make-bundle.py $D/yes -- yes >/dev/null
.venv/bin/containerd-trio --listen unix:$D/api.sock --state-dir $D/state --shutdown-timeout 1 --log-max-bytes 268435456 2>$D/daemon.log &
K=$!
for i in $(seq 50); do [ -S $D/api.sock ] && break; sleep 0.1; done
C="curl -s --unix-socket $D/api.sock"
for i in $(seq 100); do $C http://d/state >/dev/null && break; sleep 0.1; done
# 1,000,000 lines of 100 bytes: 100 MB of output
$C -XPOST http://d/containers/big -d "{\"bundlePath\":\"$D/bundle\"}" >/dev/null
prev=0; while :; do sleep 1; sz=$(du -sb $D/state | cut -f1); [ "$sz" = "$prev" ] && break; prev=$sz; done
sleep 2
du -sh $D/state/containers/big 2>/dev/null || du -sh $D/state
for i in 1 2 3; do $C -o /dev/null -w "full download: %{size_download} bytes in %{time_total}s, %{speed_download} B/s\n" "http://d/containers/big/logs"; done
for i in 1 2 3; do $C -o /dev/null -w "tail=100: %{time_total}s\n" "http://d/containers/big/logs?tail=100"; done
# tail while 5 writers write as fast as they can
for w in 1 2 3 4 5; do $C -XPOST http://d/containers/w$w -d "{\"bundlePath\":\"$D/yes\"}" >/dev/null; done
sleep 2
for i in 1 2 3; do $C -o /dev/null -w "tail=100 of a writer, 5 writers busy: %{time_total}s\n" "http://d/containers/w1/logs?tail=100"; done
for i in 1 2 3; do $C -o /dev/null -w "tail=100 of big, 5 writers busy: %{time_total}s\n" "http://d/containers/big/logs?tail=100"; done
kill $K; wait $K || true
