"""``ctr-trio bench``: start many containers through the daemon, time them, compare with runc
and with the daemon's peers.

``ctr-trio bench --count N --concurrency C [--address A] [--bundle DIR] [--baseline] [--cycle]
[--checkpoint] [--peers | --with containerd,podman] [--ceiling]`` starts N containers (at most
C requests in flight) with ``POST /containers/{id}``, scrapes the daemon's ``/metrics`` before
and after, then removes them, and prints the timings in the format of the 2015 containerd
README's "Performance" section::

    [containerd-trio] 2026/11/28 15:00:54 count: 1000
    [containerd-trio] 2026/11/28 15:00:54 min: 23ms
    ...

- Without an address it runs a daemon of its own (``python -m containerd_trio`` on a unix socket
  in a temporary directory) and stops it at the end.
- ``--baseline`` also starts N containers with runc directly, spawned as the daemon spawns it
  (the daemon's own :class:`~containerd_trio.runtime.Runc`, with its settings), with the same
  statistics under a ``[runc]`` tag, and the ratios.
- ``--cycle`` times whole lifecycles instead of starts: start a container whose process is
  ``true``, wait for its exit, delete it. runc's baseline runs each as one ``runc run`` in
  the foreground (which waits and deletes): runc's cheapest lifecycle, as the peers' are
  their ``run --rm``.
- ``--checkpoint`` then times checkpoint (with exit) and restore of min(N, 20) containers, one
  after the other, through the daemon and with runc directly.
- ``--peers`` (or ``--with containerd,podman``) then does the same with containerd (``ctr``)
  and Podman on the same rootfs, each under its own tag (:mod:`.peers` says how).
- ``--ceiling`` measures the daemon alone: its own daemon runs a stand-in runtime that costs
  next to nothing (NOT runc; :mod:`.ceiling`), every line is tagged so, and after the starts
  ``GET /state`` is timed with the N containers listed.

After the seed's lines come ``rate`` (starts per second over the whole phase), ``daemon cpu``
per start (from ``process_cpu_seconds_total`` in ``/metrics``; containerd's own process for
containerd), ``daemon rss`` with all N running, ``runc cpu`` per start (the runc processes the
daemon or the bench reaped; for the daemon only when the bench runs it), for starts ``runc init
cpu`` (the containers' inits so far: runc init until its exec, the last part of runc's start,
reaped only at their end; for the daemon only when the bench runs it), ``client cpu`` (the
ctr or podman processes, for a peer), ``bench cpu`` per start (this process: its HTTP client or
its spawning competes for the same CPUs), and ``machine cpu`` per start (all CPUs, from
``/proc/stat``, with how busy they were: when they are all busy, the start rate is the
machine's CPU divided by what each start costs it). Before each timed phase the bench waits
(``--settle``) for the machine to be nearly idle, and says so when it never was.

The parts: :mod:`.stats` (the seed's figures), :mod:`.probes` (CPU, memory, the kernel's
teardown), :mod:`.api` (the daemon's API on the client's Trio transport), :mod:`.targets` and
:mod:`.peers` (what a phase drives), :mod:`.phase` (one phase for any target),
:mod:`.ceiling` (the stand-in runtime and ``GET /state``), :mod:`.checkpoints`, :mod:`.report`,
:mod:`.options` and :mod:`.main` (the run).
"""

from .errors import BenchError
from .main import bench, run
from .options import Options, add_arguments
from .phase import Phase
from .probes import DaemonFigures, parse_figures, settle
from .report import Printer, Report, settle_note
from .stats import SEED_LINES, Stats, percentile

__all__ = [
    "SEED_LINES",
    "BenchError",
    "DaemonFigures",
    "Options",
    "Phase",
    "Printer",
    "Report",
    "Stats",
    "add_arguments",
    "bench",
    "parse_figures",
    "percentile",
    "run",
    "settle",
    "settle_note",
]
