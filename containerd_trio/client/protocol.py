"""HTTP/1.1 to the daemon without I/O: addresses, requests, answers, ndjson lines, retries.

The two transports (:mod:`.blocking` for the CLI and :class:`~.http.Client`, :mod:`.trio_transport`
for the benchmark) only move bytes: everything they have to agree on is here, once. h11 keeps
the state of each connection (framing, chunked bodies, keep-alive), so no HTTP is parsed by hand.

A transport's request is, in short::

    http = Http11(endpoint)                     # one per connection
    send_all(http.send(request))
    while not http.complete:
        http.receive(receive_some())            # b"" when the daemon closed the connection
    answer = http.answer()
    if http.reuse(): ...keep the connection for the next request...

and its retry loop, around whole attempts::

    retry = Retry(request, retry_for)
    while True:
        try:
            return retry.check(attempt(request))
        except ClientError as failure:
            sleep(retry.pause(failure))         # re-raises ``failure`` when it is final
"""

from __future__ import annotations

import errno
import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlencode

import h11

from ..errors import quoted
from ..listen import ADDRESS_FORMS, Listen
from .errors import ApiError, ClientError, DaemonUnreachable, TlsFilesUnusable

if TYPE_CHECKING:
    import ssl

#: How long a request is tried again while the daemon refuses connections or answers 503: the
#: daemon answers 503 while it shuts down or hands over to a freshly started server (a live
#: upgrade), and nothing listens for a moment while it restarts.
RETRY_FOR = 15.0
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 1.0
#: What a transport reads from its socket at once.
RECEIVE_SIZE = 65536


# --- where the daemon is ----------------------------------------------------------------------


class Tls(NamedTuple):
    """How to check the daemon's certificate, and the client's own (for mutual TLS)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def context(self) -> ssl.SSLContext:
        """The SSL context; built only when a TLS connection is made (it costs a third of a
        second to load the system's CA store, more than the rest of a CLI call).

        TlsFilesUnusable if a file cannot be used: its OSError (ENOENT for a missing file)
        would pass for a missing socket file, tried again for 15 s and told as the daemon's.
        """
        import ssl

        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except OSError as exc:  # ssl.SSLError is one too
            files = f"--tls-ca {self.ca_file}" if self.ca_file else "the system's CAs"
            raise TlsFilesUnusable(f"cannot use {files}: {reason(exc)}") from None
        if self.cert_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except OSError as exc:
                # OpenSSL does not say which of the two it could not take.
                files = f"--tls-cert {self.cert_file}"
                if self.key_file is not None:
                    files += f" and --tls-key {self.key_file}"
                raise TlsFilesUnusable(f"cannot use {files}: {reason(exc)}") from None
        return context


class Endpoint(NamedTuple):
    """The daemon's address, parsed: a unix socket, or a TCP host and port, with or without TLS."""

    #: As the user wrote it, for messages.
    address: str
    host: str | None
    port: int | None
    unix_path: str | None
    tls: bool

    @classmethod
    def parse(cls, address: str) -> Endpoint:
        """``HOST:PORT``, ``unix:PATH`` or a URL: ``http[s]://HOST[:PORT]``, ``http://unix:PATH``,
        and docker's ``tcp://HOST:PORT`` (plain TCP, as ``HOST:PORT``).

        ``http://unix:PATH`` is how the daemon names a unix socket in its "serving on" line, so
        that line can be pasted as it is. ``tcp://`` is how docker's ``-H`` and ``DOCKER_HOST``
        name a daemon on TCP: it was refused (``'tcp://127.0.0.1' is no host name or IP
        address``). Raises ValueError otherwise.
        """
        text, tls = address, False
        if text.startswith("tcp://"):
            text = text[len("tcp://") :]
            if text.startswith("unix:") or "://" in text or ":" not in text:
                raise ValueError(f"{quoted(address)} is not tcp://HOST:PORT")
        for scheme in ("http://", "https://"):
            if text.startswith(scheme + "unix:"):
                text = text[len(scheme) :]
                break
            if text.startswith(scheme):
                tls = scheme == "https://"
                rest = text[len(scheme) :].split("/", 1)[0]
                if not rest:
                    raise ValueError(f"{quoted(address)} names no host")
                host, sep, port = rest.rpartition(":")
                if not sep or "]" in port:  # no port: the scheme's own (an IPv6 host has colons)
                    host, port = rest, "443" if tls else "80"
                if not port.isdigit() or not 0 < int(port) <= 65535:
                    raise ValueError(f"{quoted(address)} has no valid port")
                return cls(address, _reachable(address, host.strip("[]")), int(port), None, tls)
        # The daemon's own --listen syntax, parsed by the daemon's own parser: one grammar for both.
        try:
            listen = Listen.parse(text)
        except ValueError:
            if text.startswith("unix:"):
                raise  # its own words: the socket path it needs
            if text.rpartition(":")[2].isdigit():  # HOST:PORT of a port past 65535
                raise ValueError(f"{quoted(address)} has no valid port") from None
            # The daemon's words name the two forms it listens on; a client takes URLs too.
            raise ValueError(f"{quoted(address)} is not {ADDRESS_FORMS}") from None
        if listen.unix_path is not None:
            return cls(address, None, None, str(listen.unix_path), False)
        assert listen.host is not None and listen.port is not None
        if listen.port == 0:  # a server may listen there (the kernel picks one); none answers
            raise ValueError(f"{quoted(address)} has no valid port")
        return cls(address, _reachable(address, listen.host), listen.port, None, False)

    @property
    def authority(self) -> str:
        """The Host header. A unix socket has no host, but HTTP/1.1 needs the header."""
        if self.unix_path is not None:
            return "localhost"
        host = f"[{self.host}]" if self.host and ":" in self.host else str(self.host)
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.authority}"


#: A DNS name: labels of letters, digits and hyphens (not at either end), dot-separated; and
#: underscores, which RFC 1123 leaves out but Docker's and Compose's service names resolve with.
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")


#: The longest DNS name (RFC 1035's 255 bytes on the wire); the resolver refuses a longer one.
MAX_HOSTNAME = 253
#: An IPv6 zone: an interface's name (at most IFNAMSIZ - 1 = 15 bytes) or its index.
_ZONE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def _reachable(address: str, host: str) -> str:
    """``host`` if a client can connect to it (a DNS name or an IP address), else ValueError.

    HOST:PORT takes whatever comes before the last colon: "ftp://x:1" was host "ftp://x", and
    a migration to it a 502 from the resolver rather than a 400 about the address.
    """
    if _HOSTNAME.fullmatch(host) and len(host.rstrip(".")) <= MAX_HOSTNAME:
        return host
    import ipaddress  # only for what is no DNS name (IPv6): not on every client call

    try:
        ipaddress.ip_address(host)
        # The zone (fe80::1%eth0) is an interface's name or index: the connect passes it to
        # the idna codec, which raised on a long one (a 500 for a migration's target).
        _, _, zone = host.partition("%")
        if zone and not _ZONE.fullmatch(zone):
            raise ValueError(zone)
    except ValueError:
        raise ValueError(
            f"{quoted(address)} is not {ADDRESS_FORMS}: {quoted(host)} is no host name or IP"
            " address"
        ) from None
    return host


# --- requests and answers ---------------------------------------------------------------------


class Request(NamedTuple):
    method: str
    #: Path and query, encoded.
    target: str
    #: A JSON document, encoded; None for no body.
    body: bytes | None = None


def make_request(
    method: str,
    path: str,
    *,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    body: Any = None,
) -> Request:
    """A request with a JSON body (when ``body`` is not None) and a query (when ``params``:
    pairs, for a parameter given several times)."""
    target = f"{path}?{urlencode(params)}" if params else path
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Request(method, target, data)


def container_path(container_id: str, *rest: str) -> str:
    """``/containers/{id}/...``, each part quoted: an id such as ``a?b`` or ``../x`` stays one
    path segment (which the daemon refuses as an invalid id) instead of changing the request."""
    return "/containers" + "".join("/" + quote(part, safe="") for part in (container_id, *rest))


def decode_json(data: bytes, address: str) -> Any:
    """A JSON document from the daemon at ``address``; ClientError if it is not JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        # Something answers at the address, but not the daemon (or not this API version).
        snippet = data[:80].decode(errors="replace")
        raise ClientError(f"the answer from {address} is not JSON: {snippet!r}") from None


class Answer(NamedTuple):
    status: int
    reason: str
    body: bytes
    #: Its headers, names in lowercase (None where nobody kept them).
    headers: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self, address: str) -> Any:
        """The body as JSON; ClientError naming ``address`` if it is not JSON."""
        return decode_json(self.body, address)

    def error(self) -> ApiError:
        """The daemon's ``{"error": ...}`` as an ApiError; or what else the body says."""
        moved_to: str | None = None
        try:
            document = json.loads(self.body)
            message = str(document["error"])
            if isinstance(to := document.get("movedTo"), str):
                moved_to = to
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # Not the daemon's error shape (a proxy, or a different server at that address).
            message = self.body.decode(errors="replace").strip() or self.reason
        return ApiError(self.status, message, moved_to=moved_to)


class Broken(Exception):
    """The connection closed, or what came on it is not HTTP."""


class Http11:
    """The HTTP/1.1 state of one connection, one request at a time (h11 underneath)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._h11 = h11.Connection(h11.CLIENT)
        self._host = endpoint.authority.encode()
        self._address = endpoint.address
        self._begin()

    def _begin(self) -> None:
        #: The answer's status, once its head is in.
        self.status: int | None = None
        #: Its headers, names in lowercase, once its head is in.
        self.headers: dict[str, str] = {}
        #: The whole answer is in.
        self.complete = False
        self._reason = b""
        self._body = bytearray()

    def send(self, request: Request) -> bytes:
        """The bytes of ``request``, to be sent whole."""
        headers = [(b"host", self._host)]
        if request.body is not None:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", b"%d" % len(request.body)))
        elif request.method in ("POST", "PUT", "PATCH"):
            headers.append((b"content-length", b"0"))
        h = self._h11
        data = h.send(h11.Request(method=request.method, target=request.target, headers=headers))
        if request.body:
            data += h.send(h11.Data(data=request.body))
        return data + h.send(h11.EndOfMessage())

    def send_upload_head(self, request: Request, media: str) -> bytes:
        """The head of a request whose body follows in pieces (:meth:`send_piece`, then
        :meth:`send_end`): chunked, so that its length need not be known."""
        headers = [
            (b"host", self._host),
            (b"content-type", media.encode()),
            (b"transfer-encoding", b"chunked"),
        ]
        return self._h11.send(
            h11.Request(method=request.method, target=request.target, headers=headers)
        )

    def send_piece(self, data: bytes) -> bytes:
        return self._h11.send(h11.Data(data=data)) if data else b""

    def send_end(self) -> bytes:
        return self._h11.send(h11.EndOfMessage())

    def receive(self, data: bytes) -> None:
        """Take what came from the daemon (``b""``: it closed the connection).

        Raises Broken if the connection closed before the whole answer came, ClientError if
        what came is not HTTP.
        """
        h = self._h11
        try:
            h.receive_data(data)
            while not self.complete:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Response):
                    self.status, self._reason = event.status_code, event.reason
                    self.headers = {
                        name.decode("latin-1"): value.decode("latin-1")
                        for name, value in event.headers
                    }
                elif isinstance(event, h11.Data):
                    self._body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.complete = True
                elif isinstance(event, h11.ConnectionClosed):
                    raise Broken("the daemon closed the connection")
        except h11.RemoteProtocolError as exc:
            if not data:  # the connection ended mid-answer
                if self.status is None:  # h11's words would name its own states
                    raise Broken("it closed the connection before it answered") from None
                raise Broken(str(exc)) from None  # a body cut short: h11 counts the bytes
            # Something answers at the address, but not an HTTP server: trying again is no use.
            raise ClientError(f"the answer from {self._address} is not HTTP: {exc}") from None

    def answer(self) -> Answer:
        """The whole answer (once :attr:`complete`)."""
        assert self.status is not None
        reason = self._reason.decode(errors="replace")
        return Answer(self.status, reason, bytes(self._body), self.headers)

    def take_body(self) -> bytes:
        """What came of the body so far, taken out of the buffer (a download's bytes)."""
        data = bytes(self._body)
        self._body.clear()
        return data

    def lines(self) -> list[bytes]:
        """The complete lines of an ndjson body that came so far, taken out of the buffer; once
        the answer is complete, the last line too, even without its newline."""
        body = self._body
        end = len(body) if self.complete else body.rfind(b"\n") + 1
        if not end:
            return []
        lines = [line for line in bytes(body[:end]).split(b"\n") if line]
        del body[:end]
        return lines

    def reuse(self) -> bool:
        """Ready the connection for the next request; False if it must be closed instead."""
        h = self._h11
        if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
            return False  # "connection: close", or an answer left unread
        h.start_next_cycle()
        self._begin()
        return True


# --- failures and retries ---------------------------------------------------------------------


def reason(exc: BaseException) -> str:
    """What went wrong, in words (some errors have no message of their own)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def connect_failed(address: str, exc: OSError) -> DaemonUnreachable:
    """A connection that could not be made: nothing was sent."""
    refused = exc.errno in (errno.ECONNREFUSED, errno.ENOENT)
    return DaemonUnreachable(address, reason(exc), refused=refused)


def connection_lost(address: str, exc: BaseException) -> DaemonUnreachable:
    """A connection that broke once the request was (being) sent."""
    return DaemonUnreachable(address, reason(exc), lost=True)


#: Told of a failure that is about to be retried, and of the pause before the next attempt.
OnRetry = Callable[[ClientError, float], None]


class Retry:
    """When a failed request is tried again, and after how long.

    Again: a 503 (the daemon is shutting down, or handing over to a new server), a refused
    connection or a missing socket file (nothing listens yet: the request never left), and a
    GET whose connection broke (a GET changes nothing, so it may be sent twice). Never: any
    other request whose connection broke once sent, since the daemon may have acted on it.
    The pauses grow from 50 ms to 1 s, for ``budget`` seconds in all (the last, what is left
    of it: the last try comes at its end); ``on_retry(failure, pause)`` is told of each,
    before it begins.
    """

    def __init__(self, request: Request, budget: float, on_retry: OnRetry | None = None) -> None:
        self._method = request.method
        self._deadline = time.monotonic() + budget
        self._pause = FIRST_PAUSE
        self._on_retry = on_retry

    @staticmethod
    def check(answer: Answer) -> Answer:
        """The answer, unless it is a 503: that is raised, as a failure to retry."""
        if answer.status == 503:
            raise answer.error()
        return answer

    def pause(self, failure: ClientError) -> float:
        """Seconds to wait before the next attempt; raises ``failure`` if there is to be none."""
        if isinstance(failure, ApiError):
            again = failure.status == 503
        elif isinstance(failure, DaemonUnreachable):
            again = failure.refused or (failure.lost and self._method == "GET")
        else:
            again = False
        # The last pause is what is left of the budget, so that the last try comes at its end:
        # a whole pause past it, given up instead, left up to 1 s of the budget untried.
        pause = min(self._pause, self._deadline - time.monotonic())
        if not again or pause <= 0:
            raise failure
        self._pause = min(2 * self._pause, LONGEST_PAUSE)
        if self._on_retry is not None:
            self._on_retry(failure, pause)
        return pause
