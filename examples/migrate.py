#!/usr/bin/env python3
"""Move a running container from one daemon to another with a checkpoint: the count goes on.

    .venv/bin/containerd-trio --listen 127.0.0.1:8888 --state-dir /var/lib/ctr-a &   # "host A"
    .venv/bin/containerd-trio --listen 127.0.0.1:8889 --state-dir /var/lib/ctr-b &   # "host B"
    examples/migrate.py [--from 127.0.0.1:8888] [--to 127.0.0.1:8889] [--bundle /containers/counter]

A counting container starts on A, is checkpointed there with ``"exit": true`` and deleted from
A; B restores it from the same bundle (the checkpoint lives in it) and its count continues.
Both daemons share the bundle here; between two machines, copy the bundle over first. This is
the migration of docs/checkpoint.md, from Python. B's container and the checkpoint are removed
at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import _venv  # noqa: F401  (re-runs this script with the repo's .venv if needed)
from _fresh import IdTaken, refuse_stopped

from containerd_trio.busybox import NotOurBundle, make_busybox_bundle
from containerd_trio.client.http import Client, ClientError

COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 1; done"]
CHECKPOINT = "move"


def numbers(client: Client, container_id: str, *, follow: bool) -> Iterator[int]:
    """The numbers the counter has written (and, with follow, writes from now on)."""
    with client.logs(container_id, follow=follow) as records:
        for record in records:
            if record["stream"] == "stdout" and record["data"].strip().isdigit():
                yield int(record["data"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", default="127.0.0.1:8888", metavar="ADDRESS")
    parser.add_argument("--to", dest="target", default="127.0.0.1:8889", metavar="ADDRESS")
    parser.add_argument("--bundle", type=Path, default=Path("/containers/counter"))
    parser.add_argument("--id", default="counter", help="the container's id")
    parser.add_argument("--keep", action="store_true", help="leave the container running on B")
    # For daemons that serve https:// (--tls-cert), and ask for a client's certificate
    # (--tls-client-ca): ctr-trio's options, the same for both.
    parser.add_argument("--tls-ca", metavar="FILE", help="the CA of the daemon's certificate")
    parser.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="that certificate's key")
    options = parser.parse_args()
    try:
        migrate(options)
    except (ClientError, NotOurBundle, IdTaken) as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


def connect(options: argparse.Namespace, address: str) -> Client:
    """A client of the daemon at ``address``, with the TLS files given."""
    return Client(
        address, tls_ca=options.tls_ca, tls_cert=options.tls_cert, tls_key=options.tls_key
    )


def migrate(options: argparse.Namespace) -> None:
    cid = options.id
    bundle = str(make_busybox_bundle(options.bundle, COUNTER))
    with connect(options, options.source) as host_a, connect(options, options.target) as host_b:
        # Both there before anything is made: with B missing, A's container was checkpointed
        # and deleted, and the restore then had nowhere to go.
        host_a.state()
        refuse_stopped(host_a, cid)  # before anything is made or removed
        for there in host_b.state()["containers"]:
            if there["id"] == cid and there["state"]["status"] != "stopped":
                # An earlier run's with --keep: the restore would be refused (409), after A's
                # container was checkpointed and deleted.
                sys.exit(f"B ({options.target}) already runs a container {cid!r}: delete it first")
        # A checkpoint of the name left in the bundle (by --keep, or a run that stopped
        # midway) would refuse this run's (409), after its counter started on A.
        if any(c["name"] == CHECKPOINT for c in host_a.checkpoints(cid, bundle_path=bundle)):
            host_a.delete_checkpoint(cid, CHECKPOINT, bundle_path=bundle)
            print(f"removed the checkpoint {CHECKPOINT!r} an earlier run left in {bundle}")
        container = host_a.start(cid, bundle)
        print(f"A ({options.source}): started {cid} (pid {container['processes'][0]['pid']})")
        for number in numbers(host_a, cid, follow=True):
            if number >= 4:
                break

        host_a.create_checkpoint(cid, CHECKPOINT, exit=True)
        # The container has stopped: its log is complete and ends with the last number counted.
        last = list(numbers(host_a, cid, follow=False))[-1]
        host_a.delete(cid)
        print(f"A: checkpointed {cid} as {CHECKPOINT!r} with exit; the last number was {last}")
        print(f"A: deleted {cid}; the checkpoint stays in {bundle}/checkpoints/{CHECKPOINT}")

        names = [c["name"] for c in host_b.checkpoints(cid, bundle_path=bundle)]
        print(f"B ({options.target}): checkpoints in the bundle: {', '.join(names)}")
        container = host_b.start(cid, bundle, checkpoint=CHECKPOINT)
        print(f"B: restored {cid} (pid {container['processes'][0]['pid']})")
        after = []
        for number in numbers(host_b, cid, follow=True):
            after.append(number)
            if len(after) == 3:
                break
        print(f"B: the count goes on: {', '.join(map(str, after))}")

        if not options.keep:
            host_b.delete_checkpoint(cid, CHECKPOINT)
            host_b.delete(cid, timeout=1)
            print(f"B: deleted {cid} and its checkpoint")


if __name__ == "__main__":
    main()
