"""JSON on the wire: request bodies in (within limits), answers and errors out.

A body is read as JSON whatever its Content-Type (curl -d sends a form type), and refused with a
400 naming the problem before it can cost: nested deeper than any request needs, an integer with
more digits than any field takes, NaN or Infinity (not JSON at all). Its size is bounded by the
app (``MAX_CONTENT_LENGTH``, a 413).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import AsyncIterator
from itertools import accumulate, count
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from quart import Response, g, request

from ..convert import dump_json, structure, unstructure
from ..errors import InvalidRequest, quoted
from ..validation import ID_PATTERN

T = TypeVar("T")

JSON = "application/json"
NDJSON = "application/x-ndjson"
TEXT = "text/plain"

#: How deep arrays and objects may nest in a body. The deepest request needs 3
#: (``{"user": {"additionalGids": [...]}}``); past about 1000 the parser itself would fail.
MAX_DEPTH = 32
#: The most digits of an integer in a body: 20 hold any 64-bit number, more than any field
#: takes. (Python converts no more than 4300, and the conversion's cost grows with the square.)
MAX_INTEGER_DIGITS = 20

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
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidRequest(
            f"the request body holds an integer of {digits} digits:"
            f" no field takes more than {MAX_INTEGER_DIGITS}"
        )
    return int(text)


def _constant(name: str) -> float:
    raise InvalidRequest(f"the request body is not valid JSON: {name} is not a JSON value")


def json_response(value: Any, status: int = 200) -> Response:
    return json_document(unstructure(value), status)


def json_document(document: Any, status: int = 200) -> Response:
    """A JSON answer that is already plain data (no attrs classes to unstructure)."""
    return json_encoded(dump_json(document), status)


def json_encoded(body: bytes, status: int = 200) -> Response:
    """A JSON answer encoded already."""
    return Response(body, status=status, content_type=JSON)


def error_response(status: int, message: str) -> Response:
    return json_document({"error": message}, status)


def stream_response(lines: AsyncIterator[bytes]) -> Response:
    response = Response(lines, status=200, content_type=NDJSON)
    response.timeout = None  # a stream lasts as long as the client wants it
    return response


async def read_json(*, optional: bool = False) -> Any:
    """The request body as decoded JSON."""
    g.body_read = True
    data = await request.get_data(cache=False, as_text=False)
    if isinstance(data, str):  # never with as_text=False; the types cannot say so
        data = data.encode()
    if not data.strip():
        if optional:
            return {}
        raise InvalidRequest("the request body is empty: a JSON object is required")
    if nests_deeper_than(data, MAX_DEPTH):
        raise InvalidRequest(
            f"the request body nests arrays and objects deeper than {MAX_DEPTH} levels"
        )
    try:
        return json.loads(data, parse_int=_integer, parse_constant=_constant)
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno},"
            f" column {exc.colno} (character {exc.pos})"
        ) from None


async def read_body(cls: type[T], *, optional: bool = False) -> T:
    return structure(await read_json(optional=optional), cls)


def check_raw_path(raw_path: bytes) -> None:
    """400 for a path segment that decodes to a slash or a NUL.

    The server decodes ``%2F`` before routing, so ``/containers/a%2Fb`` would otherwise become
    ``/containers/a/b`` and a puzzling 404: an id can never hold these, so say so.
    """
    for segment in raw_path.split(b"/"):
        if b"%" not in segment:
            continue
        decoded = unquote_to_bytes(segment)
        if b"/" in decoded or b"\0" in decoded:
            shown = quoted(segment.decode("ascii", errors="replace"))
            raise InvalidRequest(
                f"invalid container id or checkpoint name {shown}: it must match {ID_PATTERN}"
            )
