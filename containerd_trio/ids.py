"""The rule on container ids and checkpoint names, alone: the daemon checks every id with it
(:mod:`.validation`), and ``ctr-trio`` checks its arguments with it before any request, without
loading what the daemon's rules need (attrs, the converter).

Ids become path components (state dir, bundle checkpoints, runc's root), so their pattern is
strict: it rules out ``..``, slashes, NUL and anything a shell or a filesystem treats specially.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from .errors import quoted

#: The longest container id or checkpoint name.
ID_MAX_LENGTH = 128
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{ID_MAX_LENGTH - 1}}}$"
_ID = re.compile(ID_PATTERN)


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string that the pattern takes."""
    # fullmatch, not match: "$" also matches before a final newline
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def quoted_id(value: str) -> str:
    """``value`` as a message names it: whole if it is a valid id or checkpoint name (at most
    128 characters, as docker's ``No such container: ID`` names it), else cut as any text of
    the client's is (:func:`.errors.quoted`)."""
    return repr(value) if is_id(value) else quoted(value)


def invalid_id(value: str, what: str = "container id") -> str:
    """The one sentence that refuses ``value`` as a ``what`` (``container id``, ``checkpoint
    name``), wherever it is refused: the API's 400 and the command line's usage error."""
    return (
        f"invalid {what} {quoted(value)}: it must match {ID_PATTERN} (letters, digits, '_',"
        f" '.', '-'; at most {ID_MAX_LENGTH} characters; not starting with a punctuation mark)"
    )
