"""The bytes a log record stands for: what its readers send (attach) and print (``ctr-trio
logs``), exactly as the process wrote them.

A record's ``data`` is text; a record whose bytes are not UTF-8 holds them in ``raw`` as well
(base64), its ``data`` showing them decoded with U+FFFD (see :mod:`containerd_trio.logfile`,
which writes them). A module of its own, importing nothing of the daemon: ``ctr-trio logs``
pays for every import.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """The bytes of a decoded record: its ``raw`` if it has one, else its ``data`` in UTF-8.

    ValueError (binascii.Error) if its ``raw`` is not base64, KeyError or TypeError if it has
    no data or no text for it: it is no record."""
    raw = record.get("raw")
    if raw is not None:
        return binascii.a2b_base64(raw, strict_mode=True)
    data = record["data"]
    if not isinstance(data, str):
        raise TypeError(f"a record's data is text, not {type(data).__name__}")
    return data.encode()
