"""Requests that a browser sends for another site: refused.

With the status page, browsers are clients of the API. A browser also sends requests for any
site it shows: a page on another origin can POST to ``http://127.0.0.1:8888`` (a form, or a
``fetch`` in ``no-cors`` mode with a text body, which the API reads as JSON), and a page on a
name that the attacker points at 127.0.0.1 (DNS rebinding) can read the answers too. Either would
hand the API, which is root on the machine, to whatever web page a person on it opens.

So a request that carries what only browsers send (``Origin``, ``Sec-Fetch-Site``) must come
from the page's own origin, under a name that cannot be rebound: an IP address, ``localhost``
or a name under it (``app.localhost``, loopback's by RFC 6761), the address the daemon listens
on, or any name over TLS (a rebound name would not match the certificate). Clients that are
not browsers (curl, ``ctr-trio``, httpx) send none of these headers and are not affected.

A browser too old to send either on a same-origin request (Safari before 16.4 sends neither on
a GET) is known by its ``User-Agent``, which every browser's begins with ``Mozilla/``: the rule
of names holds for it too, so that a rebound page cannot read ``GET /state`` through it.
"""

from __future__ import annotations

import ipaddress

from quart.wrappers import BaseRequestWebsocket

from ..errors import Forbidden
from ..supervisor import Supervisor

#: How every browser's ``User-Agent`` begins; curl, httpx and ctr-trio say their own names.
BROWSER_AGENT = "Mozilla/"


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8888
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _unreboundable(hostname: str, listen_host: str | None) -> bool:
    if hostname in ("localhost", listen_host) or hostname.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def is_browser_agent(user_agent: str | None) -> bool:
    """The ``User-Agent`` is a browser's (one old enough to send no ``Sec-Fetch-Site``)."""
    return user_agent is not None and user_agent.startswith(BROWSER_AGENT)


def check_browser_request(supervisor: Supervisor, request: BaseRequestWebsocket) -> None:
    """Raise :class:`Forbidden` for a browser's request (or WebSocket) on another site's
    behalf."""
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site")
    if origin is None and site is None and not is_browser_agent(request.headers.get("User-Agent")):
        return  # not a browser
    # A page's WebSocket (ws://, wss://) has the page's own http(s) origin.
    scheme = {"ws": "http", "wss": "https"}.get(request.scheme, request.scheme)
    own_origin = f"{scheme}://{request.host}"
    if origin is not None and origin != own_origin:
        raise Forbidden(
            f"refused: a browser sent this request for {origin}, another origin than {own_origin}"
        )
    # Opening the page from a link elsewhere is fine (a navigation reads nothing back to the
    # other site); anything else it asks for is not.
    navigation = request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") in (
        "navigate",
        None,
    )
    if site in ("cross-site", "same-site") and not navigation:
        raise Forbidden(f"refused: a browser sent this request for another site ({site})")
    config = supervisor.config
    if not config.tls and not _unreboundable(_hostname(request.host), config.listen.host):
        raise Forbidden(
            f"refused: browsers must use this daemon by its address (such as"
            f" {config.listen.host or 'localhost'}), not by the name {_hostname(request.host)!r},"
            " which anyone's DNS could point here"
        )
