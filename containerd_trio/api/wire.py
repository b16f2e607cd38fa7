"""JSON on the wire: request bodies in (within limits), answers and errors out.

A body is read as JSON whatever its Content-Type (curl -d sends a form type), and refused with a
400 naming the problem before it can cost: nested deeper than any request needs, an integer with
more digits than any field takes, NaN or Infinity (not JSON at all). Its size is bounded by the
app (``MAX_CONTENT_LENGTH``, a 413).
"""

from __future__ import annotations

import errno
import json
import logging
import operator
import re
from collections import Counter
from collections.abc import AsyncIterator
from itertools import accumulate, count
from typing import Any, TypeVar

import attrs
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, WebsocketScope
from quart import Response, g, request

from ..convert import dump_json, structure, unstructure
from ..errors import DaemonError, InternalError, InvalidRequest, quoted
from ..numbers import MAX_DIGITS

T = TypeVar("T")

log = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"
TEXT = "text/plain"

#: How deep arrays and objects may nest in a body. The deepest request needs 3
#: (``{"user": {"additionalGids": [...]}}``); past about 1000 the parser itself would fail.
MAX_DEPTH = 32

# A JSON string, or the unterminated rest of the body: it always matches from a quote on, so
# cutting the strings out stays linear whatever the body holds.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# 2 for an opening bracket, 0 for a closing one: after k brackets, the depth is the sum - k.
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def nests_deeper_than(data: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``data`` nest deeper than ``limit``, found without parsing
    it: the strings are cut out, and the depth of the brackets left is counted in C loops."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if len(brackets) <= limit:
        return False
    steps = brackets.translate(_DEPTH_STEP)
    deepest: int = max(map(operator.sub, accumulate(steps), count(1)))
    return deepest > limit


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise InvalidRequest(
            f"the request body holds an integer of {digits} digits:"
            f" no field takes more than {MAX_DIGITS}"
        )
    return int(text)


def _constant(name: str) -> float:
    raise InvalidRequest(f"the request body is not valid JSON: {name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; 400 for a name it gives twice. Which of the two values was meant cannot
    be told (json.loads kept the last, without a word), as for a query parameter given twice."""
    document = dict(pairs)
    if len(document) < len(pairs):
        counts = Counter(name for name, _ in pairs)  # in the order the names come
        twice, times = next((name, n) for name, n in counts.items() if n > 1)
        raise InvalidRequest(
            f"the request body names {quoted(twice)} {times} times in one object: give it once"
        )
    return document


@attrs.frozen
class Reply:
    """An answer as a handler makes it: its status, its encoded body and what type that is.

    It belongs to no framework: the app turns it into Quart's response (:func:`to_response`),
    the fast path (``fast.py``) sends it as it stands.
    """

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def json_response(value: Any, status: int = 200) -> Reply:
    return json_document(unstructure(value), status)


def json_document(document: Any, status: int = 200) -> Reply:
    """A JSON answer that is already plain data (no attrs classes to unstructure)."""
    return Reply(status, dump_json(document))


def json_encoded(body: bytes, status: int = 200) -> Reply:
    """A JSON answer encoded already."""
    return Reply(status, body)


def body_limit_message(limit: int) -> str:
    """The 413's words."""
    return f"the request body is larger than the limit of {limit} bytes"


def error_reply(status: int, message: str) -> Reply:
    return json_document({"error": message}, status)


def daemon_error_reply(exc: DaemonError, method: str, path: str) -> Reply:
    """What a :class:`DaemonError` raised while serving ``method path`` answers."""
    if exc.status >= 500 and exc.status != 503:
        log.error("%s %s: %s", method, path, exc.message)
    if exc.fields:  # additive: the sentence first, as every error's
        reply = json_document({"error": exc.message, **exc.fields}, exc.status)
    else:
        reply = error_reply(exc.status, exc.message)
    if exc.status == 503:
        # Shutting down or handing over to a new server: the same request will succeed in a
        # moment, on the new server (ctr-trio retries it).
        return attrs.evolve(reply, headers=(("Retry-After", "1"),))
    return reply


#: What a write refused for want of room raises: the disk is full, or the user's quota.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def unexpected_error_reply(exc: Exception, method: str, path: str) -> Reply:
    """A 500 for an exception no handler expected (logged with its traceback).

    A full disk is no fault of the daemon's but the host's state, which any write may meet
    (a dump's work dir in the state dir, a record): it is said as such, in one line, as
    docker says "no space left on device", without a traceback that calls it a bug."""
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"a disk the daemon writes to is full: {exc.strerror}{where}"
        log.error("%s %s: %s", method, path, message)
        return error_reply(InternalError.status, message)
    log.exception("unexpected error in %s %s", method, path)
    error = InternalError(f"internal error: {type(exc).__name__}: {exc}")
    return error_reply(error.status, error.message)


#: A WebSocket's close code for a refused handshake, where the server cannot answer it in
#: HTTP: try again later (RFC 6455's registry) for a stop's 503, a policy's refusal otherwise.
_TRY_AGAIN_LATER = 1013
_POLICY_VIOLATION = 1008


async def refuse_handshake(
    scope: WebsocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable, reply: Reply
) -> None:
    """Answer a WebSocket's handshake with ``reply`` instead of accepting it, as an HTTP
    answer (ASGI's ``websocket.http.response``, which Hypercorn offers), and close its
    connection: after a refused handshake Hypercorn takes whatever else comes on it for the
    WebSocket's own bytes (app.py). A server without that extension gets a close before the
    accept, with the error's words as its reason."""
    await receive()  # websocket.connect comes first
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        code = _TRY_AGAIN_LATER if reply.status == 503 else _POLICY_VIOLATION
        reason = json.loads(reply.body)["error"][:120]  # a close's reason holds 123 bytes
        await send({"type": "websocket.close", "code": code, "reason": reason})
        return
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", b"%d" % len(reply.body)),
        (b"connection", b"close"),
    ]
    headers += [(name.lower().encode(), value.encode()) for name, value in reply.headers]
    await send(
        {"type": "websocket.http.response.start", "status": reply.status, "headers": headers}
    )
    await send({"type": "websocket.http.response.body", "body": reply.body, "more_body": False})


def to_response(reply: Reply) -> Response:
    """The Quart response that sends ``reply``."""
    response = Response(reply.body, status=reply.status, content_type=reply.content_type)
    for name, value in reply.headers:
        response.headers[name] = value
    return response


def error_response(status: int, message: str) -> Response:
    return to_response(error_reply(status, message))


def stream_response(lines: AsyncIterator[bytes]) -> Response:
    response = Response(lines, status=200, content_type=NDJSON)
    response.timeout = None  # a stream lasts as long as the client wants it
    return response


def decode_json(data: bytes, *, optional: bool = False) -> Any:
    """A request body as decoded JSON, within the limits above."""
    if not data.strip():
        if optional:
            return {}
        raise InvalidRequest("the request body is empty: a JSON object is required")
    if nests_deeper_than(data, MAX_DEPTH):
        raise InvalidRequest(
            f"the request body nests arrays and objects deeper than {MAX_DEPTH} levels"
        )
    try:
        document = json.loads(
            data, parse_int=_integer, parse_constant=_constant, object_pairs_hook=_object
        )
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno},"
            f" column {exc.colno} (character {exc.pos})"
        ) from None
    if _SURROGATE_ESCAPE.search(data) and _holds_lone_surrogate(document):
        # "\ud800" is JSON, but no UTF-8 text: a path holding one raised UnicodeEncodeError
        # out of every system call (a 500), a label one out of the journal's writes.
        raise InvalidRequest(
            "the request body is not valid JSON text: it holds a lone surrogate (\\ud800 to"
            " \\udfff not in a pair), which no UTF-8 text can"
        )
    return document


#: The escapes of surrogates; a pair is one character once decoded, and fine.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def decode_body(data: bytes, cls: type[T], *, optional: bool = False) -> T:
    """A request body structured as ``cls``."""
    return structure(decode_json(data, optional=optional), cls)


@attrs.frozen
class _NoBody:
    """What a route that takes no body takes: nothing, or ``{}``."""


def check_no_body(data: bytes) -> None:
    """400 unless ``data``, sent to a route that takes no body, is nothing or ``{}`` (curl's
    users send ``-d '{}'``). Such a route ignored its body: ``/daemon/reload -d '{"x":1}'``
    reloaded, where every other route names an unknown field."""
    if not data:  # what nearly every such request sends: no decoding
        return
    try:
        decode_body(data, _NoBody, optional=True)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"{exc.message}: this route takes no body (send none, or {{}})"
        ) from None


async def read_data() -> bytes:
    """The body of Quart's current request, as bytes."""
    g.body_read = True
    data = await request.get_data(cache=False, as_text=False)
    if isinstance(data, str):  # never with as_text=False; the types cannot say so
        data = data.encode()
    return data


async def read_body(cls: type[T], *, optional: bool = False) -> T:
    """The body of Quart's current request, structured as ``cls``."""
    return decode_body(await read_data(), cls, optional=optional)
