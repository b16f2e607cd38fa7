"""The Quart-Trio application: parse, validate, hand to the supervisor, map errors.

Handlers own no long-lived work: every change goes through the supervisor, whose nursery holds
the containers' task trees. Every error leaves as ``{"error": "<one sentence>"}`` with its
status, including the framework's own (404 for an unknown route, 405, 413).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from quart import Response, g, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..convert import structure, unstructure
from ..errors import DaemonError, InvalidRequest
from ..supervisor import Supervisor
from ..validation import ID_PATTERN
from . import browsers, page, routes

log = logging.getLogger(__name__)

T = TypeVar("T")

JSON = "application/json"
NDJSON = "application/x-ndjson"


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(unstructure(value), separators=(",", ":")).encode()
    return Response(body, status=status, content_type=JSON)


def json_document(document: Any, status: int = 200) -> Response:
    """A JSON answer that is already plain data (no attrs classes to unstructure)."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(body, status=status, content_type=JSON)


def error_response(status: int, message: str) -> Response:
    body = json.dumps({"error": message}, separators=(",", ":")).encode()
    return Response(body, status=status, content_type=JSON)


def stream_response(lines: AsyncIterator[bytes]) -> Response:
    response = Response(lines, status=200, content_type=NDJSON)
    response.timeout = None  # a stream lasts as long as the client wants it
    return response


async def read_json(*, optional: bool = False) -> Any:
    """The request body as decoded JSON, whatever its Content-Type (curl -d sends a form type)."""
    g.body_read = True
    data = await request.get_data(cache=False, as_text=False)
    if not data.strip():
        if optional:
            return {}
        raise InvalidRequest("the request body is empty: a JSON object is required")
    try:
        return json.loads(data)
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
            shown = segment.decode("ascii", errors="replace")
            raise InvalidRequest(
                f"invalid container id or checkpoint name {shown!r}: it must match {ID_PATTERN}"
            )


def create_app(supervisor: Supervisor, *, max_body_bytes: int) -> QuartTrio:
    app = QuartTrio("containerd_trio")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.extensions["supervisor"] = supervisor
    app.register_blueprint(routes.blueprint)
    app.register_blueprint(page.blueprint)  # the status page at / for browsers

    @app.before_request
    async def refuse_encoded_separators() -> None:
        check_raw_path(request.scope.get("raw_path") or b"")

    @app.before_request
    async def refuse_cross_site_browsers() -> None:
        browsers.check_browser_request(supervisor)

    @app.after_request
    async def drain_unread_body(response: Response) -> Response:
        # Hypercorn 0.18 with quart-trio: an answer sent before the request's body arrived (an
        # invalid id refused from the path alone, a 404, a 413) leaves the keep-alive
        # connection stuck, its next request never answered. Reading the body first avoids it.
        if not g.get("body_read"):
            with contextlib.suppress(Exception):  # too large, or the client went away
                await request.get_data(cache=False)
        return response

    @app.errorhandler(DaemonError)
    async def daemon_error(exc: DaemonError) -> Response:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc.message)
        return error_response(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        elif status == 413:
            message = f"the request body is larger than the limit of {max_body_bytes} bytes"
        else:
            message = exc.description or exc.name
        return error_response(status, message)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    return app
