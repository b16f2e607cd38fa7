#!/bin/sh
# Figures of docs/performance.md "Copying files (docker cp)": 5000 small files and one file of
# 100 MiB into a running container and out of it, through the daemon and with tar alone on the
# same disk. Run from the repo root, under the test lock:
#   flock /tmp/containerd-trio-test.lock sh scripts/copy-figures.sh
# CODE=DIR runs the daemon from another checkout (a worktree of an older commit) to compare.
set -e
CODE=${CODE:-$PWD}
D=/tmp/cpfigures; rm -rf $D; mkdir -p $D/files/d $D/x
.venv/bin/python examples/make-bundle.py $D/bundle -- sleep 100000 >/dev/null
for i in $(seq 5000); do echo $i > $D/files/d/f$i; done
tar -C $D/files -cf $D/small.tar d
head -c 104857600 /dev/urandom > $D/files/big.bin
tar -C $D/files -cf $D/big.tar big.bin
PYTHONPATH=$CODE .venv/bin/python -m containerd_trio --listen unix:$D/api.sock --state-dir $D/state \
    --shutdown-timeout 1 --log-level error 2>$D/daemon.log &
K=$!
trap 'kill $K; wait $K || true' EXIT
C="curl -sf --unix-socket $D/api.sock"
for i in $(seq 100); do $C http://d/state >/dev/null 2>&1 && break; sleep 0.1; done
$C -XPOST http://d/containers/cp -d "{\"bundlePath\":\"$D/bundle\"}" >/dev/null
A=http://d/containers/cp/archive
for i in 1 2 3; do
    $C -o /dev/null -w "in, 5000 files: %{time_total}s\n" -XPUT "$A?path=/tmp" --data-binary @$D/small.tar
    $C -o $D/out.tar -w "out, 5000 files: %{time_total}s\n" "$A?path=/tmp/d"
    $C -o /dev/null -w "in, 100 MiB: %{time_total}s\n" -XPUT "$A?path=/tmp" --data-binary @$D/big.tar
    $C -o $D/out.tar -w "out, 100 MiB: %{time_total}s\n" "$A?path=/tmp/big.bin"
    rm -rf $D/x/*
    /usr/bin/time -f "tar alone, in, 5000 files: %es" tar -xf $D/small.tar -C $D/x
    /usr/bin/time -f "tar alone, out, 5000 files: %es" sh -c "tar -cf - -C $D/x d | cat >/dev/null"
done
$C -XDELETE "http://d/containers/cp?timeout=1" >/dev/null
