#!/bin/bash
# The same bench against the daemon just before the keeper (commit 148483c, checked out in
# /work/wt/prekeeper: git worktree add /work/wt/prekeeper 148483c) and as it is now, both
# orders. Run from the repo root, under the test lock: flock /tmp/containerd-trio-test.lock
# scripts/keeper-bench.sh
cd "$(dirname "$0")/.."
run() { # name pythonpath
  D=/tmp/kb-$1; rm -rf $D; mkdir -p $D
  PYTHONPATH=$2 $PWD/.venv/bin/python -P -m containerd_trio --listen unix:$D/api.sock --state-dir $D/state --shutdown-timeout 1 2>$D/daemon.log &
  K=$!
  for i in $(seq 100); do curl -s --unix-socket $D/api.sock http://d/state >/dev/null && break; sleep 0.1; done
  echo "=== $1 $(date -u +%H:%M) $(PYTHONPATH=$2 .venv/bin/python -P -c 'import containerd_trio,os;print(os.path.dirname(containerd_trio.__file__))')"
  .venv/bin/ctr-trio bench --address unix:$D/api.sock --count 1000 --concurrency 8 --baseline $3 2>&1 | grep -v "^\s*$"
  kill $K; wait $K
}
run before /work/wt/prekeeper
run after ""
run after-rf "" --baseline-first
run before-rf /work/wt/prekeeper --baseline-first
