"""A container id the examples may start their own container under.

A start under the id of a stopped container replaces it (the daemon's rule, the 2015 seed's
way): its record and its log go. An example that starts a container of its own under a
fixed id (``--id``'s default) must not do that to a user's stopped container of that id: it
asks first, and stops with one line. A running one the daemon refuses itself (its 409, "already
exists and is running").
"""

from containerd_trio.client.http import Client


class IdTaken(Exception):
    """The id names a stopped container of the user's."""


def refuse_stopped(client: Client, container_id: str) -> None:
    """Raise :class:`IdTaken` if ``container_id`` names a stopped container. (Until
    2026-12-06 the example replaced it, and deleted the container it started in its place at
    its end: the user's stopped container gone, its log with it.)"""
    for container in client.containers():
        if container["id"] == container_id and container["state"]["status"] == "stopped":
            raise IdTaken(
                f"container {container_id!r} already exists and is stopped: starting this"
                " example's would replace it, its log and all; delete it first, or give"
                " another --id"
            )
