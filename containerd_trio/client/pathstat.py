"""docker's stat of a path in a container: the ``X-Docker-Container-Path-Stat`` header.

The daemon writes it (:mod:`containerd_trio.archive.paths`) and ``ctr-trio cp`` reads it: both
from here. Its value is base64 of the JSON ``{name, size, mode, mtime, linkTarget}``, ``mode``
in Go's ``os.FileMode`` bits (the permission bits, and one bit for each kind and flag), as
docker's daemon writes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode bits.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_NAMED_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHAR_DEVICE = 1 << 21
GO_STICKY = 1 << 20
GO_IRREGULAR = 1 << 19


def encode(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def decode(value: str) -> dict[str, Any]:
    """The header's JSON; ValueError if it is none."""
    try:
        document = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise ValueError(f"{STAT_HEADER} is not base64 of JSON: {value[:40]!r}") from None
    if not isinstance(document, dict) or not isinstance(document.get("mode"), int):
        raise ValueError(f"{STAT_HEADER} is not a path's stat: {value[:40]!r}")
    return document


def is_dir(document: dict[str, Any]) -> bool:
    return bool(document["mode"] & GO_DIR)


def is_link(document: dict[str, Any]) -> bool:
    return bool(document["mode"] & GO_SYMLINK)
