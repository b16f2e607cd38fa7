"""``ctr-trio events -f label=KEY[=VALUE]``: docker's filter on the labels of an event's
container, kept here, of the daemon's stream.

The daemon's events carry no labels (an event is its type, its container's id, its time and
its figures: docs/events.md) and ``GET /events`` filters by id and type only, where docker's
events carry the container's labels in their attributes. So the labels are those the daemon
lists for the event's container id: read once for every container at the start (``GET
/state``), and again for an id when a container starts (or is restored) under it, which may
be a new one with labels of its own, or when an id comes that was not listed. A container the
daemon no longer lists that was never seen (deleted before its events were read: a replay's)
has no labels to match, and its events are left out; one seen before keeps the labels it had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import ApiError

if TYPE_CHECKING:
    from .http import Client
    from .types import Event

#: The events after which the id may name a new container, with labels of its own: a start
#: (a start again replaces the stopped container) and a restore.
NEW_CONTAINER_EVENTS = ("start-container", "restore")


def labels_match(labels: Mapping[str, str] | None, wanted: Sequence[str]) -> bool:
    """docker's ``MatchKVList``: every one of ``wanted`` matches (several label filters are
    all to match, not alternatives); ``KEY`` has the label, whatever its value (an empty one
    too), ``KEY=VALUE`` has it with that value. No labels known: no match."""
    if labels is None:
        return not wanted
    for filter_ in wanted:
        key, has_value, value = filter_.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


class ContainerLabels:
    """The labels of each container id whose events come, as the daemon lists them."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._known: dict[str, dict[str, str] | None] = {
            container["id"]: dict(container.get("labels") or {})
            for container in client.containers()
        }

    def of(self, event: Event) -> dict[str, str] | None:
        """The labels of the event's container; None where the daemon has none to say (it no
        longer lists the id, and we never saw it)."""
        container_id = event["id"]
        if event["type"] in NEW_CONTAINER_EVENTS or container_id not in self._known:
            try:
                labels = self._client.container(container_id).get("labels") or {}
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # Gone already: the labels last seen of it, if it was seen (none asked again
                # for each of its events).
                self._known.setdefault(container_id, None)
            else:
                self._known[container_id] = dict(labels)
        return self._known[container_id]
