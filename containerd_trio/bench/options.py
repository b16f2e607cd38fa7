"""``ctr-trio bench``'s options: its command line, and the record the run takes."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..listen import ADDRESS_FORMS
from .checkpoints import CHECKPOINT_COUNT
from .peers import PEERS, missing, peer_names


@dataclass(frozen=True)
class Options:
    count: int = 100
    concurrency: int = 8
    #: ``HOST:PORT``, ``http://HOST:PORT`` or ``unix:PATH``; None: run a daemon of our own.
    address: str | None = None
    #: A bundle to start (all containers share it); None: a busybox bundle made for the run.
    bundle: Path | None = None
    baseline: bool = False
    #: Run the runc baseline before the daemon's phase rather than after it.
    baseline_first: bool = False
    #: With --baseline: rounds of both phases, their order alternating from one to the next.
    rounds: int = 1
    cycle: bool = False
    #: With --cycle: the daemon's lifecycles as ``docker run --rm`` runs them (autoRemove, and
    #: a wait for the removal) instead of a start, a wait and a DELETE.
    rm: bool = False
    #: The daemon alone: its own daemon with the stand-in runtime, not runc (``--ceiling``).
    ceiling: bool = False
    checkpoint: bool = False
    #: Measure the API's latency with containers writing as fast as they can (``--pressure``).
    pressure: bool = False
    writers: int = 5
    #: The peers to run after the daemon (and runc): "containerd", "podman".
    peers: tuple[str, ...] = ()
    #: The peers ``--peers`` left out, not installed: the report says so (it said nothing, and
    #: a run by hand without them looked like one with no peer phase to run).
    peers_not_installed: tuple[str, ...] = ()
    #: Where the bundles, the raw runc root and our daemon's state go; None: a temporary dir.
    workdir: Path | None = None
    runc: str = "runc"
    #: CRIU for the raw runc checkpoints; None: :func:`containerd_trio.config.default_criu`.
    criu: str | None = None
    #: Seconds to wait at most, before each timed phase, for the machine to be nearly idle.
    settle: float = 90.0
    #: Extra arguments for the daemon the bench runs itself.
    daemon_args: tuple[str, ...] = ()
    #: A progress line on stderr; None: when stderr is a terminal.
    progress: bool | None = None
    #: Where the report lines go; None: stdout.
    out: TextIO | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        address = getattr(args, "bench_address", None) or getattr(args, "address", None)
        # --peers: those installed; --with names its own, installed or not (then an error).
        peers = [name for name in PEERS if not missing(name)] if args.peers else []
        peers += args.with_peers or []
        return cls(
            count=args.count,
            concurrency=args.concurrency,
            address=address,
            bundle=args.bundle,
            baseline=args.baseline,
            baseline_first=args.baseline_first,
            rounds=args.rounds,
            cycle=args.cycle,
            rm=args.rm,
            ceiling=args.ceiling,
            checkpoint=args.checkpoint,
            pressure=args.pressure,
            writers=args.writers,
            peers=tuple(dict.fromkeys(peers)),
            peers_not_installed=tuple(n for n in PEERS if args.peers and missing(n)),
            workdir=args.workdir,
            runc=args.runc,
            criu=args.criu,
            settle=args.settle,
            daemon_args=tuple(args.daemon_arg or ()),
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def _peers(text: str) -> list[str]:
    try:
        return peer_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add bench's options to the ``bench`` subparser."""
    add = parser.add_argument
    add(
        "--count",
        type=_positive_int,
        default=100,
        metavar="N",
        help="containers to start (default %(default)s)",
    )
    add(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="C",
        help="requests (and runc calls) in flight at most (default %(default)s)",
    )
    add(
        "--address",
        dest="bench_address",
        default=None,
        metavar="ADDRESS",
        help=f"the daemon to measure: {ADDRESS_FORMS} (default: run a daemon of the bench's own"
        " on a unix socket)",
    )
    add(
        "--bundle",
        type=Path,
        default=None,
        metavar="DIR",
        help="the OCI bundle every container starts from (default: a busybox bundle made for the"
        " run; with --cycle its process must exit by itself)",
    )
    add(
        "--pressure",
        action="store_true",
        help="instead of starts: the latency of GET /state, start, exec and delete (--count"
        " rounds) idle and with --writers containers writing as fast as they can, and what"
        " capturing their output costs",
    )
    add(
        "--writers",
        type=_positive_int,
        default=5,
        metavar="N",
        help="with --pressure: containers writing (default %(default)s)",
    )
    add(
        "--baseline",
        action="store_true",
        help="also start the containers with runc directly and print daemon/runc ratios",
    )
    add(
        "--baseline-first",
        action="store_true",
        help="with --baseline: run runc's phase first (to see that the order does not matter)",
    )
    add(
        "--rounds",
        type=_positive_int,
        default=1,
        metavar="R",
        help="with --baseline: R rounds of both phases, the order alternating from one round to"
        " the next (the first as --baseline-first says; an even R runs each order as often),"
        " then the ratios over all rounds (default %(default)s)",
    )
    add(
        "--cycle",
        action="store_true",
        help="time whole lifecycles (start a container running `true`, wait for its exit,"
        " delete it) instead of starts; runc's baseline runs each as one `runc run` in the"
        " foreground",
    )
    add(
        "--rm",
        action="store_true",
        help="with --cycle: the daemon's lifecycles as docker run --rm's: each container"
        " started with autoRemove, the bench waiting for its removal (condition=removed)"
        " where it would wait for the exit and DELETE (raw runc's are the same run, wait and"
        " delete as without it; the peers' are run --rm's either way)",
    )
    add(
        "--ceiling",
        action="store_true",
        help="what the daemon alone can do: the bench's own daemon runs a stand-in runtime that"
        " costs nothing (compiled with gcc; NOT runc), then GET /state is timed with the N"
        " containers listed (with --cycle: lifecycles only)",
    )
    add(
        "--checkpoint",
        action="store_true",
        help=f"then time checkpoint and restore of min(N, {CHECKPOINT_COUNT}) containers, through"
        " the daemon and with runc directly",
    )
    add(
        "--peers",
        action="store_true",
        help=f"then the same with the peers that are installed ({', '.join(PEERS)}), each"
        " through its usual client, on the same rootfs",
    )
    add(
        "--with",
        dest="with_peers",
        type=_peers,
        metavar="PEER[,PEER]",
        help=f"then the same with these peers ({', '.join(PEERS)}; ctr for containerd)",
    )
    add(
        "--workdir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the bench's files (bundles, raw runc root, its daemon's state) in DIR"
        " (default: a temporary directory, removed at the end)",
    )
    add(
        "--settle",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="before each timed phase, wait up to this long for the machine to be nearly idle"
        " (the kernel tears removed containers down for a while; default %(default)s)",
    )
    add("--runc", default="runc", metavar="PATH", help="the runc binary (default runc)")
    add(
        "--criu",
        default=None,
        metavar="PATH",
        help="the CRIU for raw runc checkpoints (default: the one the daemon would use)",
    )
    add(
        "--daemon-arg",
        action="append",
        metavar="ARG",
        help="an extra argument for the bench's own daemon (repeat for several)",
    )
