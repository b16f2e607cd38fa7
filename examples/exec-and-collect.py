#!/usr/bin/env python3
"""Run several processes at once in one container and collect each one's exit status.

    examples/exec-and-collect.py [--address 127.0.0.1:8888] [--id exec-and-collect]

The processes are started with ``PUT /containers/{id}/processes``; their exit statuses come from
the event stream, matched by pid. The stream is read with ``?since=`` the container's
``createdAt``, so an exit that happened before the stream opened is replayed, not missed.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import _venv  # noqa: F401  (re-runs this script with the repo's .venv if needed)
from _address import default_address, help_text
from _fresh import IdTaken, refuse_stopped

from containerd_trio.busybox import make_busybox_bundle
from containerd_trio.client.http import Client, ClientError

#: What to run: exit at once, after a while, by a signal, or because the command is missing.
COMMANDS = [
    ["sh", "-c", "exit 0"],
    ["sh", "-c", "sleep 1; exit 3"],
    ["sh", "-c", "sleep 0.5; exit 42"],
    ["sh", "-c", "sleep 2"],
    ["sh", "-c", "kill -KILL $$"],
    ["sh", "-c", "no-such-command"],
]


def connect(options: argparse.Namespace, address: str) -> Client:
    """A client of the daemon at ``address``, with the TLS files given."""
    return Client(
        address, tls_ca=options.tls_ca, tls_cert=options.tls_cert, tls_key=options.tls_key
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=default_address(), help=help_text())
    parser.add_argument("--id", default="exec-and-collect", help="the container's id")
    # For a daemon that serves https:// (--tls-cert), and asks for a client's certificate
    # (--tls-client-ca): ctr-trio's options.
    parser.add_argument("--tls-ca", metavar="FILE", help="the CA of the daemon's certificate")
    parser.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="that certificate's key")
    options = parser.parse_args()

    bundle = make_busybox_bundle(
        Path(tempfile.mkdtemp(prefix="exec-and-collect-")), ["sleep", "3600"]
    )
    try:
        with connect(options, options.address) as client:
            refuse_stopped(client, options.id)
            container = client.start(options.id, str(bundle))
            print(f"started {options.id} (pid {container['processes'][0]['pid']})", flush=True)
            try:
                collect(client, options.id, container["createdAt"])
            finally:
                # On ^C or an error too: left running, the container would outlive its bundle
                # (removed below) and make every next run a 409 (its id taken).
                client.delete(options.id, timeout=1)
                print(f"\ndeleted {options.id}")
    except (ClientError, IdTaken) as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


def collect(client: Client, container_id: str, created_at: str) -> None:
    """Run COMMANDS in the container at once; print each one's exit status."""
    # Each request returns as soon as its process runs (runc exec -d), so they all run at the
    # same time; the daemon starts them one by one, under the container's lock.
    started = {}
    for args in COMMANDS:
        process = client.exec(container_id, args)
        started[process["pid"]] = args
        print(f"started pid {process['pid']}: {shlex.join(args)}", flush=True)

    statuses: dict[int, int] = {}
    with client.events(since=created_at, container_id=container_id) as events:
        for event in events:
            if event["type"] == "exit" and event.get("pid") in started:
                statuses[event["pid"]] = event["status"]
                if len(statuses) == len(started):
                    break

    print(f"\n{'PID':>7}  {'STATUS':>6}  ARGS")
    for pid, args in started.items():
        print(f"{pid:>7}  {statuses[pid]:>6}  {shlex.join(args)}")


if __name__ == "__main__":
    main()
