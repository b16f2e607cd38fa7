#!/usr/bin/env python3
"""Start a container that prints a few lines and exits with status 4; watch its events; show
its logs; delete it.

    examples/watch-events.py [--address 127.0.0.1:8888] [--id watch-events]

The events are read with ``?id=`` (this container only) and ``?since=`` its ``createdAt``: the
stream opens after the start, yet replays the start from the daemon's log, so nothing is missed
however fast the container runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import _venv  # noqa: F401  (re-runs this script with the repo's .venv if needed)
from _address import default_address, help_text
from _fresh import IdTaken, refuse_stopped

from containerd_trio.busybox import make_busybox_bundle
from containerd_trio.client.http import Client, ClientError, Container

SCRIPT = "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo 'about to fail' >&2; exit 4"


def connect(options: argparse.Namespace, address: str) -> Client:
    """A client of the daemon at ``address``, with the TLS files given."""
    return Client(
        address, tls_ca=options.tls_ca, tls_cert=options.tls_cert, tls_key=options.tls_key
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=default_address(), help=help_text())
    parser.add_argument("--id", default="watch-events", help="the container's id")
    # For a daemon that serves https:// (--tls-cert), and asks for a client's certificate
    # (--tls-client-ca): ctr-trio's options.
    parser.add_argument("--tls-ca", metavar="FILE", help="the CA of the daemon's certificate")
    parser.add_argument("--tls-cert", metavar="FILE", help="this client's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="that certificate's key")
    options = parser.parse_args()

    bundle = make_busybox_bundle(
        Path(tempfile.mkdtemp(prefix="watch-events-")), ["sh", "-c", SCRIPT]
    )
    try:
        with connect(options, options.address) as client:
            refuse_stopped(client, options.id)
            container = client.start(options.id, str(bundle))
            try:
                watch(client, options.id, container)
            finally:
                # On ^C or an error too: the container's record must not outlive its bundle
                # (removed below).
                client.delete(options.id, timeout=1)
                print(f"deleted {options.id}")
    except (ClientError, IdTaken) as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


def watch(client: Client, container_id: str, container: Container) -> None:
    """Print the container's events until its init's exit, then its logs and its end."""
    init = container["processes"][0]["pid"]
    print(f"started {container_id} (pid {init}) at {container['createdAt']}\n", flush=True)

    print("events:")
    with client.events(since=container["createdAt"], container_id=container_id) as events:
        for event in events:
            extra = "".join(f" {key}={event[key]}" for key in ("pid", "status") if key in event)
            print(f"  {event['timestamp']}  {event['type']:<15}{extra}")
            if event["type"] == "exit" and event.get("pid") == init:
                break  # the init's exit: the container has stopped

    # follow=True ends once the container's pipes are drained: all its output is there.
    print("\nlogs:")
    with client.logs(container_id, follow=True) as records:
        for record in records:
            print(f"  {record['stream']:<6} {record['data']}", end="")

    state = client.container(container_id)["state"]
    print(f"\nstatus {state['status']}, exit status {state.get('exitStatus')}")


if __name__ == "__main__":
    main()
