"""The Quart-Trio application: the declared routes, and every error as ``{"error": ...}``.

Handlers own no long-lived work: every change goes through the supervisor, which shields a
command from its request and holds the containers' task trees in its nursery. Every error
leaves as ``{"error": "<one sentence>"}`` with its status, including the framework's own (404
for an unknown route, 405, 413).
"""

from __future__ import annotations

import contextlib
import re

from hypercorn.typing import Scope
from quart import Response, g, has_websocket_context, request, websocket
from quart.typing import ResponseTypes
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import WebsocketMismatch

from ..errors import DaemonError, shortened
from ..supervisor import Supervisor
from . import browsers, openapi, page, routes, wire
from .access import PeerCheck, admission_for
from .cut import HttpConnection
from .fast import FastRoutes
from .upload import ApiRequest, AskedBody, StreamedBody, StreamedRoutes


def create_app(supervisor: Supervisor, *, max_body_bytes: int) -> QuartTrio:
    app = QuartTrio("containerd_trio")
    # A path with an empty segment (``/containers//box``) names no endpoint: a JSON 404 that
    # says so, where werkzeug merged the slashes with a 308 and an HTML body (a POST's
    # client without -L saw that page). Before any route is added: a rule takes it then.
    app.url_map.merge_slashes = False
    app.asgi_http_class = HttpConnection
    app.request_class = ApiRequest
    app.extensions["streamed_routes"] = StreamedRoutes(routes.api.streamed)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    # Built at its first request (then cached), not here: 20 ms of every server's start,
    # a restart after a crash included, for a document few clients ask for.
    app.extensions["openapi"] = openapi.document
    app.register_blueprint(routes.api.blueprint)
    app.register_blueprint(page.blueprint)  # the status page at / for browsers
    # The hot routes' plain requests are answered before Quart sees them (fast.py); every
    # request, fast or not, finds the daemon's supervisor in routes.SUPERVISOR, and is
    # refused (503) once the daemon stops, a WebSocket's handshake too.
    app.asgi_app = FastRoutes(  # type: ignore[method-assign]
        app.asgi_app,
        routes.api.fast,
        max_body_bytes=max_body_bytes,
        body_timeout=app.config["BODY_TIMEOUT"],
        context=[(routes.SUPERVISOR, supervisor)],
        answered=supervisor.metrics.fast_requests.inc,
        refusing=lambda scope: supervisor.refusing(follow=_follows(scope)),
    )
    admission = admission_for(supervisor.config)
    if admission is not None:
        # Outermost, so that nothing of the app (streams and WebSockets included) runs first.
        app.asgi_app = PeerCheck(app.asgi_app, admission)  # type: ignore[method-assign]

    @app.before_request
    async def refuse_encoded_separators() -> None:
        routes.api.check_raw_path(request.scope.get("raw_path") or b"")

    @app.before_request
    async def refuse_cross_site_browsers() -> None:
        browsers.check_browser_request(supervisor, request)

    @app.before_websocket
    async def check_websocket() -> None:
        # The same checks for a WebSocket's handshake (a page may open one to any site).
        routes.api.check_raw_path(websocket.scope.get("raw_path") or b"")
        browsers.check_browser_request(supervisor, websocket)

    @app.after_request
    async def drain_unread_body(response: Response) -> Response:
        # Hypercorn 0.18 with quart-trio: an answer sent before the request's body arrived (an
        # invalid id refused from the path alone, a 404, a 413) leaves the keep-alive
        # connection stuck, its next request never answered. Reading the body first avoids it.
        if isinstance(request.body, AskedBody) and request.body.held:
            # Its client waits for a 100 Continue to send it: not invited, it sends nothing,
            # and the answer closes the connection (connections._Http11).
            return response
        if isinstance(request.body, StreamedBody):
            # An upload refused or failed midway may have gigabytes to come: close instead.
            if not request.body.finished:
                response.headers["Connection"] = "close"
            return response
        if not g.get("body_read"):
            with contextlib.suppress(Exception):  # too large, or the client went away
                await request.get_data(cache=False)
        return response

    @app.after_websocket
    async def close_after_refused_handshake(
        response: ResponseTypes | None,
    ) -> ResponseTypes | None:
        # After a refused handshake Hypercorn takes whatever else comes on the connection for
        # the WebSocket's own bytes and answers it 400: a client must not send another request
        # on it.
        if response is not None:
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(DaemonError)
    async def daemon_error(exc: DaemonError) -> Response:
        return wire.to_response(wire.daemon_error_reply(exc, *_method_and_path()))

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        method, path = _method_and_path()
        path = shortened(path)  # as every message quotes what the client sent
        if status == 404:
            message = f"no such endpoint: {method} {path}"
        elif status == 405:
            message = f"method {method} is not allowed on {path}"
        elif status == 413:
            message = wire.body_limit_message(max_body_bytes)
        elif isinstance(exc, WebsocketMismatch) and has_websocket_context():
            message = (
                f"{path} is not a WebSocket endpoint: ask it in plain HTTP (without Upgrade:"
                " websocket), see docs/api.md"
            )
        else:
            message = exc.description or exc.name
        response = wire.error_response(status, message)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            # RFC 9110 (15.5.6): a 405 MUST name the methods the path takes. werkzeug's own
            # response carries them, but this JSON one replaces it.
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        return wire.to_response(wire.unexpected_error_reply(exc, *_method_and_path()))

    return app


#: The follows a stopping daemon still serves (:meth:`.Supervisor.refusing`): the event
#: stream and a container's output.
_FOLLOWS = re.compile(r"/events|/containers/[^/]+/logs")


def _follows(scope: Scope) -> bool:
    """Whether the request asks for a stream a stopping daemon still serves."""
    return (
        scope["type"] == "http"
        and scope["method"] == "GET"
        and _FOLLOWS.fullmatch(scope["path"]) is not None
    )


def _method_and_path() -> tuple[str, str]:
    """What is being answered: a request, or a WebSocket's handshake (a GET)."""
    if has_websocket_context():
        return "GET", websocket.path
    return request.method, request.path
