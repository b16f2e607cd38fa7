"""The declaration of each route, read by both the app and the OpenAPI document.

A handler is declared once, beside its code, with :meth:`Api.route`: its method and path, its
parameters class and body class, what it answers and which errors it may raise. The handler's
docstring is its description. The app serves what is declared (parameters parsed and checked,
the body structured, both before the handler runs), and ``openapi.py`` describes the same list,
so the two cannot drift apart.

A WebSocket route (``websocket=True``) is declared the same way, as the ``GET`` its handshake
is; a plain ``GET`` of its path (no ``Upgrade``) is answered 400, saying so.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

import attrs
from quart import Blueprint, Response, request, websocket
from werkzeug.datastructures import MultiDict

from ..errors import DaemonError, InvalidRequest, quoted
from . import params, wire
from .upload import StreamedBody, Upload

Handler = Callable[..., Awaitable[Response | wire.Reply]]
H = TypeVar("H", bound=Handler)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")


class Bytes:
    """The schema of an answer that is bytes of its media type (an archive), not a document."""


@attrs.frozen
class Answer:
    """A successful answer: its status, what it means, and what it holds.

    ``schema`` is a type the document describes (an attrs class, ``list[...]``), the name of a
    component, a JSON Schema as it stands, or :class:`Bytes`. ``media`` is its media type, or
    the types it may come as (an archive, compressed or not).
    """

    status: int
    description: str
    schema: Any
    media: str | tuple[str, ...] = wire.JSON
    #: Headers it carries beyond the usual: (name, what it says).
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media,) if isinstance(self.media, str) else self.media


@attrs.frozen
class Endpoint:
    method: str
    path: str  # as OpenAPI writes it: /containers/{id}
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    answers: tuple[Answer, ...]
    errors: tuple[type[DaemonError], ...]
    params: type[Any] | None
    body: type[Any] | None
    body_required: bool
    handler: Handler
    websocket: bool = False
    #: A GET whose HEAD is an operation of its own in the document (its answer's headers,
    #: without the body): the handler answers both (werkzeug routes a GET's HEAD to it).
    head: bool = False
    #: Plain requests are answered by the fast path (``fast.py``), the rest by the app; the
    #: handler must then answer a :class:`~.wire.Reply` and use nothing of Quart's.
    fast: bool = False
    #: Its answer may wait long on a container (an exit): the fast path gives it up when its
    #: client goes away, as the app gives up every request. (A command, a delete too, is not
    #: given up: the supervisor shields it from its request.)
    waits: bool = False

    @property
    def description(self) -> str | None:
        return inspect.getdoc(self.handler)

    @property
    def path_names(self) -> list[str]:
        return _PLACEHOLDER.findall(self.path)

    def path_pattern(self) -> re.Pattern[str]:
        """The path as a regular expression with a group per placeholder, matching one
        segment each as werkzeug's default converter does: ``^/containers/(?P<id>[^/]+)$``."""
        pieces = _PLACEHOLDER.split(self.path)  # literal, name, literal, ..., literal
        regex = "".join(
            f"(?P<{piece}>[^/]+)" if index % 2 else re.escape(piece)
            for index, piece in enumerate(pieces)
        )
        return re.compile(f"^{regex}$")

    def _arguments(
        self, path: Mapping[str, str], query: MultiDict[str, str], query_string: bytes
    ) -> list[Any]:
        parsed = params.parse(self.params, path, query, query_string)
        return [] if parsed is None else [parsed]

    async def serve(self, **path: str) -> Response:
        """Parse what the client sent as declared, then hand it to the handler (in Quart's
        request or websocket context)."""
        asked = websocket if self.websocket else request
        args = self._arguments(path, asked.args, asked.query_string)
        if self.body is Upload:
            body = request.body
            assert isinstance(body, StreamedBody), "the app gives streamed routes their body"
            args.append(body.chunks())
        elif self.body is not None:
            args.append(await wire.read_body(self.body, optional=not self.body_required))
        elif not self.websocket:
            wire.check_no_body(await wire.read_data())
        answer = await self.handler(*args)
        return wire.to_response(answer) if isinstance(answer, wire.Reply) else answer

    async def answer(
        self, path: Mapping[str, str], query: MultiDict[str, str], query_string: bytes, body: bytes
    ) -> wire.Reply:
        """The same as :meth:`serve` for the fast path: what was sent, as bytes and strings."""
        args = self._arguments(path, query, query_string)
        if self.body is not None:
            args.append(wire.decode_body(body, self.body, optional=not self.body_required))
        else:
            wire.check_no_body(body)
        answer = await self.handler(*args)
        if not isinstance(answer, wire.Reply):
            raise TypeError(f"{self.operation_id} is declared fast but answered {answer!r}")
        return answer


class Api:
    """The routes of the API: declared with :meth:`route`, served through :attr:`blueprint`."""

    def __init__(self, name: str) -> None:
        self.endpoints: list[Endpoint] = []
        self.blueprint = Blueprint(name, __name__)

    @property
    def fast(self) -> list[Endpoint]:
        """The endpoints whose plain requests the fast path answers."""
        return [e for e in self.endpoints if e.fast]

    @property
    def streamed(self) -> list[tuple[str, str]]:
        """The (method, path) of the routes whose body is an :class:`Upload`."""
        return [(e.method, e.path) for e in self.endpoints if e.body is Upload]

    def check_raw_path(self, raw_path: bytes) -> None:
        """400 for a path segment that decodes to a slash or a NUL, naming it as the client
        meant it.

        The server decodes ``%2F`` before routing, so ``/containers/a%2Fb`` would otherwise
        become ``/containers/a/b`` and a puzzling 404. Where the segments, decoded, fit a
        route's path, the value is refused by its parameter's own rule, in its words
        (``invalid container id 'a/b': it must match ...``), as the same request with
        ``a b`` is; elsewhere (``/ui/..%2Fx``) with a sentence of its own.
        """
        segments = [unquote_to_bytes(s) if b"%" in s else s for s in raw_path.split(b"/")]
        bad = next((s for s in segments if b"/" in s or b"\0" in s), None)
        if bad is None:
            return
        texts = [s.decode(errors="replace") for s in segments]  # as the client meant them
        for endpoint in self.endpoints:
            template = endpoint.path.split("/")
            if len(template) != len(texts):
                continue
            values: dict[str, str] = {}
            for part, text in zip(template, texts, strict=True):
                placeholder = _PLACEHOLDER.fullmatch(part)
                if placeholder is not None:
                    values[placeholder.group(1)] = text
                elif part != text:
                    break
            else:
                params.check_path(endpoint.params, values)
        # No route has a parameter there (or, in theory, one that takes a slash): refused all
        # the same, as it cannot be routed as sent.
        raise InvalidRequest(
            f"invalid path segment {quoted(bad.decode(errors='replace'))}: no part of a path"
            " may hold '/' or NUL, encoded (%2F, %00) or not"
        )

    def route(
        self,
        method: str,
        path: str,
        *,
        operation_id: str,
        summary: str,
        tags: tuple[str, ...],
        answers: tuple[Answer, ...],
        errors: tuple[type[DaemonError], ...] = (),
        params: type[Any] | None = None,
        body: type[Any] | None = None,
        body_required: bool = True,
        websocket: bool = False,
        fast: bool = False,
        waits: bool = False,
        head: bool = False,
    ) -> Callable[[H], H]:
        """Declare the decorated handler. It is called with an instance of ``params`` (if
        given), then the structured body (if ``body`` is given; for ``body=Upload``, an async
        iterator of the uploaded bytes). A ``websocket`` handler runs in Quart's websocket
        context (``quart.websocket``). A ``fast`` handler answers a :class:`~.wire.Reply` and
        uses nothing of Quart's: its plain requests are served without the app (``fast.py``).
        A handler that ``waits`` may take long (an exit): its answer ends with its client in
        the fast path too."""

        def register(handler: H) -> H:
            endpoint = Endpoint(
                method=method.upper(),
                path=path,
                operation_id=operation_id,
                summary=summary,
                tags=tags,
                answers=answers,
                errors=errors,
                params=params,
                body=body,
                body_required=body_required,
                handler=handler,
                websocket=websocket,
                fast=fast,
                waits=waits,
                head=head,
            )
            _check(endpoint)
            self.endpoints.append(endpoint)
            rule = _PLACEHOLDER.sub(r"<\1>", path)
            if websocket:
                self.blueprint.add_websocket(rule, endpoint=operation_id, view_func=endpoint.serve)
                self.blueprint.add_url_rule(
                    rule, endpoint=f"{operation_id}Plain", view_func=_not_upgraded, methods=["GET"]
                )
            else:
                self.blueprint.add_url_rule(
                    rule, endpoint=operation_id, view_func=endpoint.serve, methods=[endpoint.method]
                )
            return handler

        return register


async def _not_upgraded(**path: str) -> Response:
    raise InvalidRequest(
        f"{request.path} is a WebSocket endpoint: connect with a WebSocket client (Upgrade:"
        " websocket), see docs/api.md"
    )


def _check(endpoint: Endpoint) -> None:
    """Every placeholder of the path is a required field of the parameters class; a fast
    route is a plain one."""
    if endpoint.fast and (endpoint.websocket or endpoint.body is Upload):
        raise TypeError(f"{endpoint.operation_id}: a WebSocket or an upload cannot be fast")
    declared = params.parameters(endpoint.params) if endpoint.params is not None else {}
    for name in endpoint.path_names:
        if name not in declared or declared[name].field.default is not attrs.NOTHING:
            raise TypeError(f"{endpoint.operation_id}: no required parameter for {{{name}}}")
