"""A process's environment with entries laid over it by name, read alike by the daemon (a
start's ``process.env``) and ``ctr-trio`` (``exec -e``)."""

from __future__ import annotations

from collections.abc import Sequence


def merge_env(base: Sequence[str], added: Sequence[str]) -> list[str]:
    """``base`` with ``added`` laid over it: a name given again takes the new value, in its
    old place; new names come at the end. A name alone (no ``=``: ``-e K`` for a variable we do
    not have) takes the name out, as docker's ``exec -e`` does."""
    merged: dict[str, str | None] = {}
    for entry in [*base, *added]:
        name, sep, _ = entry.partition("=")
        merged[name] = entry if sep else None
    return [entry for entry in merged.values() if entry is not None]
