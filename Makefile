# containerd-trio. `make run` and `make test` install whatever is missing first (as root).
VENV      := .venv
BIN       := $(VENV)/bin
STATE_DIR ?= /var/lib/containerd-trio
LISTEN    ?= 127.0.0.1:8888
PYTEST_ARGS ?=
# Flags for the daemon of `make run`: DAEMON_ARGS=--stop-containers (docs/reliability.md).
DAEMON_ARGS ?=
# Three workers on this machine's two cores: with two the cores were half idle (11 min of CPU
# in 10:21, 2026-12-03); with three they are 87-93% busy (2355 tests in 12-14 min on
# 2026-12-06; 10:52, 12:02 and 14:20 for 2396 once the migration tests spawned fewer daemons), and four gained
# little and failed tests under the load. `make test-cpu` says
# which tests cost what (docs/design.md).
TEST_WORKERS ?= 3

.PHONY: install run test test-cpu lint typecheck check bench bench-peers bench-precopy bench-migrate bench-restart fuzz load chaos clean

install:
	@scripts/install.sh

run: install
	$(BIN)/containerd-trio --listen $(LISTEN) --state-dir $(STATE_DIR) $(DAEMON_ARGS)

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The suite with each test's CPU seconds (its cgroup's: the daemons, runc, CRIU and containers
# it ran included), then the 30 dearest tests and each file's total: the suite is CPU-bound on
# two cores, so these, not the wall times, say what makes `make test` long.
test-cpu: install
	rm -f .test-cpu
	CONTAINERD_TRIO_TEST_CPU=$(CURDIR)/.test-cpu $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)
	@sort -rn .test-cpu | head -30
	@awk '{split($$2, t, "::"); s[t[1]] += $$1; all += $$1} END {for (f in s) printf "%8.1f %s\n", s[f], f; printf "%8.1f all\n", all}' .test-cpu | sort -n

lint: install
	$(BIN)/ruff check containerd_trio tests examples
	$(BIN)/ruff format --check containerd_trio tests examples

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/ctr-trio bench --count 1000 --concurrency 8 --baseline --rounds 4

# Downtime of moving a container that touched 256 MiB (plain, pre-copy, post-copy), runc-level.
# --grant-pipes: post-copy needs a 4 MiB pipe for CRIU (see docs/checkpoint.md). Needs gcc.
bench-precopy: install
	$(BIN)/python scripts/bench_precopy.py --grant-pipes

# Downtime and bytes of moving a container that touched 256 MiB between two daemons (their own
# state dirs, bundle dirs and sockets), through POST /containers/{id}/migrate. Needs gcc.
bench-migrate: install
	$(BIN)/python scripts/bench_migrate.py

# What kill -9 of the server and a live upgrade cost with 1000 containers running, and the
# memory of all the daemon's processes then.
bench-restart: install
	$(BIN)/python scripts/bench_restart.py --count 1000

# The daemon beside its peers, containerd (ctr) and Podman, installed here for this only.
bench-peers: install
	@missing=""; for pkg in containerd podman; do \
	    dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(BIN)/python -m pytest tests/test_bench.py -m slow -k peers $(PYTEST_ARGS)
	$(BIN)/ctr-trio bench --count 200 --concurrency 8 --baseline --peers

fuzz: install
	$(BIN)/python -m pytest tests/test_fuzz.py -m slow -p no:cacheprovider $(PYTEST_ARGS)

load: install
	$(BIN)/python -m pytest tests/test_load.py -m slow $(PYTEST_ARGS)

# kill -9 of the server at random moments under a random workload, the promises checked after
# each kill. CHAOS_SEED=N replays a run (its seed is printed), CHAOS_KILLS=N sets its length.
chaos: install
	$(BIN)/python -m pytest tests/test_chaos.py -m slow -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
