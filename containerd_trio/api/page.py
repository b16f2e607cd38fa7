"""The status page: one HTML document and its scripts and styles, for a person with a browser.

The page is a client of the REST API like any other: its JavaScript reads ``/state``,
``/events`` and the logs and sends the same requests ``curl`` would, from the same origin. So it
is served by the same app on the same listener (unix socket, loopback or TLS) and reaches no one
the API does not already reach. ``GET /`` answers with the page only to a client that names
``text/html`` in its ``Accept``; API clients keep their JSON 404.

The files live in ``static/`` inside the package (no build step, nothing fetched at run time),
are read once, and go out with a strict Content-Security-Policy: scripts, styles and requests
from this origin only, no inline script, so container output that reaches the document as markup
by mistake still could not run.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

import attrs
from quart import Blueprint, Response, request
from werkzeug.exceptions import NotFound

from .. import errors

blueprint = Blueprint("page", __name__)

#: Where the page's files are served from (the page itself is at ``/``).
PREFIX = "/ui"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # clickjacking: the page has destructive buttons
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@attrs.frozen
class StaticFile:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


@functools.cache
def static_files() -> dict[str, StaticFile]:
    """Every file of ``static/`` by name, read (and compressed) once."""
    files: dict[str, StaticFile] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        files[entry.name] = StaticFile(
            body=body,
            gzipped=gzip.compress(body, mtime=0),
            content_type=CONTENT_TYPES[suffix],
            etag=hashlib.sha256(body).hexdigest()[:20],
        )
    return files


def wants_html() -> bool:
    """True if the client names ``text/html`` itself (in any case, as media types are): a
    browser, not ``*/*`` from curl."""
    return any(
        value.lower() == "text/html" and quality > 0 for value, quality in request.accept_mimetypes
    )


def serve(name: str) -> Response:
    file = static_files().get(name)
    if file is None:
        raise NotFound()
    # gzip unless the client refuses it: absent, or with q=0 (RFC 9110: "not acceptable").
    gzipped = request.accept_encodings.quality("gzip") > 0
    # Each coding is a representation of its own, with its own strong validator (RFC 9110
    # 8.8.3): a cache holding the gzipped file must not have it confirmed by a 304 to a client
    # that refuses gzip.
    etag = f"{file.etag}-gz" if gzipped else file.etag
    headers = {
        **SECURITY_HEADERS,
        "ETag": f'"{etag}"',
        # Revalidate every time (a 304 is a few bytes): an upgraded daemon's page is seen at once.
        "Cache-Control": "no-cache",
        "Vary": "Accept, Accept-Encoding",
    }
    # If-None-Match compares weakly, and its * matches whatever representation there is.
    if request.if_none_match.contains_weak(etag):
        return Response(b"", status=304, headers=headers)
    body = file.body
    if gzipped:
        body = file.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, status=200, content_type=file.content_type, headers=headers)


#: The answer at ``/`` to a client that is no browser: a 404, as before the page existed (the
#: API has nothing at ``/``), that says where the page and the API are. It was the 404 of an
#: unknown route, and a curl of the address the README gives looked like a daemon without a page.
NOT_A_BROWSER = (
    "the status page is served to a browser (Accept: text/html); the API is described at"
    " /openapi.json (docs/api.md)"
)


@blueprint.get("/")
async def page() -> Response:
    if not wants_html():
        raise errors.NotFound(NOT_A_BROWSER)
    return serve("index.html")


@blueprint.get(f"{PREFIX}/<name>")
async def page_file(name: str) -> Response:
    return serve(name)
