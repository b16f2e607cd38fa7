"""The attach protocol's framing: Kubernetes' ``v4.channel.k8s.io``, shared by daemon and client.

Every WebSocket message is binary, and its first byte names its channel::

    0 stdin    client -> daemon   bytes for the process's stdin (or its terminal)
    1 stdout   daemon -> client   the process's stdout (a terminal's output comes here too)
    2 stderr   daemon -> client   the process's stderr
    3 error    daemon -> client   the last message: how the process ended, as a Kubernetes
                                  Status ({"status": "Success"} or "Failure" with the exit code)
    4 resize   client -> daemon   {"Width": columns, "Height": rows}
    255 close  client -> daemon   [255, 0]: close stdin (``v5.channel.k8s.io``'s word for it;
                                  taken under v4 too), so the process reads EOF

So that ``kubectl``'s habits and code that speaks to a kubelet fit. This module has no Trio in
it: ``ctr-trio`` imports it too.

``v5.channel.k8s.io+cursor`` (:data:`CURSORED`), ours, is ``v5.channel.k8s.io`` whose output
messages (1 and 2) say where they end in the process's output: each starts with a cursor (ASCII,
no newline in it) and a newline, then the output; the first message of a session is its start,
a cursor and no output. A client that comes back (the server restarted) gives the cursor of the
last message it got (``?after=``) and the output goes on right after it: nothing twice, nothing
lost, whoever's clock is where. A client that does not offer it gets the plain protocols.
"""

from __future__ import annotations

import json
from typing import Any

CURSORED = "v5.channel.k8s.io+cursor"
#: In the server's order of preference.
SUBPROTOCOLS = (CURSORED, "v5.channel.k8s.io", "v4.channel.k8s.io")

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255

#: The exit status a Status names when it names none (a failure without an exit code).
UNKNOWN_STATUS = 255


def frame(channel: int, data: bytes = b"") -> bytes:
    return bytes((channel,)) + data


def cursored_frame(channel: int, cursor: bytes, data: bytes = b"") -> bytes:
    """An output message of :data:`CURSORED`: ``data`` and the cursor of where it ends."""
    return bytes((channel,)) + cursor + b"\n" + data


def split_cursor(data: bytes) -> tuple[bytes, bytes]:
    """``(cursor, output)`` of an output message of :data:`CURSORED` (its channel byte off)."""
    cursor, _, output = data.partition(b"\n")
    return cursor, output


def resize_frame(columns: int, rows: int) -> bytes:
    return frame(RESIZE, json.dumps({"Width": columns, "Height": rows}).encode())


def close_stdin_frame() -> bytes:
    return frame(CLOSE, bytes((STDIN,)))


def parse_resize(data: bytes) -> tuple[int, int]:
    """``(columns, rows)`` of a resize message; ValueError if it is not one."""
    try:
        document = json.loads(data)
        columns, rows = document["Width"], document["Height"]
    except (ValueError, KeyError, TypeError, RecursionError):  # nested too deeply: not one
        raise ValueError('a resize message is {"Width": columns, "Height": rows}') from None
    if not all(type(n) is int and 0 <= n <= 65535 for n in (columns, rows)):  # bool is no size
        raise ValueError("Width and Height must be whole numbers from 0 to 65535")
    return columns, rows


def exit_status_document(status: int, pid: int) -> dict[str, Any]:
    """The error channel's last word: the Status Kubernetes sends when a command ends."""
    if status == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"process {pid} ended with exit status {status}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(status)}]},
    }


#: Fields of ours in the last Status, beside Kubernetes' (which its clients pass over): the
#: process's container did not end but moved to another daemon (a migration), its copy here
#: killed (the exit code, 137, is that copy's), ``movedTo`` the target's address where known,
#: and ``inputNotTaken`` the bytes of this session's input the copy here did not take (sent
#: once the move had handed its input on: type them again there), where there were any.
MOVED = "moved"
MOVED_TO = "movedTo"
INPUT_NOT_TAKEN = "inputNotTaken"
#: With ``moved``: the bytes of input the server read from this session's connection, in all,
#: up to the status: what the client sent past them never reached the server (sent as the
#: status was on its way), and did not reach the container either. Without it the client
#: took ``inputNotTaken`` for the last bytes it sent, and named the wrong ones when some of
#: its last were never read (until 2026-12-05: the bytes not taken, sent earlier, were lost
#: untold, and the client sent those never read again in their place).
INPUT_READ = "inputRead"


def moved_document(
    document: dict[str, Any], pid: int, to: str | None, not_taken: int, read: int = 0
) -> dict[str, Any]:
    """The exit Status ``document`` of process ``pid`` whose container moved to ``to``."""
    where = "another daemon" if to is None else to
    moved = {**document, MOVED: True, "message": f"process {pid} moved to {where}"}
    if to is not None:
        moved[MOVED_TO] = to
    if not_taken:
        moved[INPUT_NOT_TAKEN] = not_taken
    moved[INPUT_READ] = read
    return moved


def error_document(message: str) -> dict[str, Any]:
    """A Status for a failure that is not an exit (the process's end is unknown)."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}


def exit_status_of(document: Any) -> int:
    """The exit status a Status names: 0 for Success, its ExitCode cause, else 255."""
    if not isinstance(document, dict):
        return UNKNOWN_STATUS
    if document.get("status") == "Success":
        return 0
    causes = (document.get("details") or {}).get("causes") or []
    for cause in causes:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                break
    return UNKNOWN_STATUS
