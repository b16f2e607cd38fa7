"""A small synchronous client for the daemon's REST API (``/work/shared/API.md``), on httpx.

One method per route. Answers come back as the daemon's JSON, typed with the ``TypedDict``s
below (they describe the contract; they are not checked at run time). Failures come in two
kinds, so that callers can tell them apart::

    try:
        client.container("ghost")
    except ApiError as exc:         # the daemon answered, with an error status
        print(exc.status, exc.message)
    except DaemonUnreachable as exc:  # no answer at all: nothing listens, or the link broke
        print(exc)

The streams (events, logs) are context managers, so that the connection is closed when the
caller stops reading, even if it stops early::

    with client.events(since=stamp) as events:
        for event in events:
            ...
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NotRequired, TypedDict, cast
from urllib.parse import quote

import httpx

from ..config import Listen

#: Deadline of an ordinary request. The daemon bounds its own runtime calls (30 s by default,
#: then 504), so this only fires when something between us and it is stuck.
DEFAULT_TIMEOUT = 60.0
#: Deadline for connecting: a daemon that does not accept in this long is not there.
CONNECT_TIMEOUT = 5.0


# --- the shapes of API.md ---------------------------------------------------------------------


class User(TypedDict):
    uid: int
    gid: int
    additionalGids: NotRequired[list[int]]


class Process(TypedDict):
    pid: int
    args: list[str]
    user: User
    terminal: bool
    env: list[str]
    cwd: str


class ContainerState(TypedDict):
    status: str  # created, running, paused or stopped
    exitStatus: NotRequired[int]


class Container(TypedDict):
    id: str
    bundlePath: str
    state: ContainerState
    processes: list[Process]
    createdAt: str
    labels: NotRequired[dict[str, str]]


class Machine(TypedDict):
    cpus: int
    memory: int


class State(TypedDict):
    containers: list[Container]
    machine: Machine


class Checkpoint(TypedDict):
    name: str
    tcp: bool
    unixSockets: bool
    shell: bool
    timestamp: str


class Event(TypedDict):
    type: str
    id: str
    pid: NotRequired[int]
    status: NotRequired[int]
    timestamp: str


class LogRecord(TypedDict):
    stream: str  # stdout or stderr
    timestamp: str
    data: str


# --- errors -----------------------------------------------------------------------------------


class ClientError(Exception):
    """Base of the errors this client raises."""


class ApiError(ClientError):
    """The daemon answered with a status that is not 2xx; ``message`` is its ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message


class DaemonUnreachable(ClientError):
    """No answer from the daemon: nothing listens at the address, or the connection broke."""

    def __init__(self, address: str, reason: str, *, lost: bool = False) -> None:
        what = "lost the connection to" if lost else "cannot reach"
        super().__init__(f"{what} the daemon at {address}: {reason}")
        self.address = address
        self.reason = reason


# --- addresses --------------------------------------------------------------------------------


def parse_address(address: str) -> tuple[str, str | None]:
    """``(base URL, unix socket path or None)`` for ``HOST:PORT``, ``unix:PATH`` or a URL.

    ``http://unix:PATH`` is accepted too: it is how the daemon names a unix socket in its
    "serving on" line, so that line can be pasted as it is. Raises ValueError otherwise.
    """
    for scheme in ("http://", "https://"):
        if address.startswith(scheme + "unix:"):
            address = address[len(scheme) :]
            break
        if address.startswith(scheme):
            if len(address) == len(scheme):
                raise ValueError(f"{address!r} names no host")
            return address.rstrip("/"), None
    # The daemon's own --listen syntax, parsed by the daemon's own parser: one grammar for both.
    listen = Listen.parse(address)
    if listen.unix_path is not None:
        # The host part is never used to connect, but HTTP/1.1 needs a Host header.
        return "http://localhost", str(listen.unix_path)
    return f"http://{listen.hypercorn_bind()}", None


# --- the client -------------------------------------------------------------------------------


class Client:
    """The daemon at ``address`` (``HOST:PORT``, ``unix:PATH`` or ``http[s]://HOST:PORT``).

    Use it as a context manager, or call :meth:`close`, to release its connections.
    """

    def __init__(self, address: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        base_url, socket_path = parse_address(address)
        self.address = address
        self._timeout = timeout
        transport = httpx.HTTPTransport(uds=socket_path) if socket_path is not None else None
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            # The daemon is on this machine or a known host: a proxy from the environment
            # would only get in the way (and cannot carry a unix socket).
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- containers ---------------------------------------------------------------------------

    def state(self) -> State:
        return cast(State, self._request("GET", "/state"))

    def containers(self) -> list[Container]:
        return self.state()["containers"]

    def container(self, container_id: str) -> Container:
        return cast(Container, self._request("GET", _path(container_id)))

    def start(
        self,
        container_id: str,
        bundle_path: str,
        *,
        checkpoint: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Container:
        body: dict[str, Any] = {"bundlePath": bundle_path}
        if checkpoint is not None:
            body["checkpoint"] = checkpoint
        if labels:
            body["labels"] = dict(labels)
        return cast(Container, self._request("POST", _path(container_id), json=body))

    def exec(
        self,
        container_id: str,
        args: Sequence[str],
        *,
        env: Sequence[str] | None = None,
        cwd: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> Process:
        """Start another process in the container. What is left out comes from the bundle."""
        body: dict[str, Any] = {"args": list(args)}
        if env is not None:
            body["env"] = list(env)
        if cwd is not None:
            body["cwd"] = cwd
        if uid is not None or gid is not None:
            body["user"] = {"uid": uid or 0, "gid": gid or 0}
        return cast(Process, self._request("PUT", _path(container_id, "processes"), json=body))

    def signal(self, container_id: str, pid: int, signal: int | str) -> None:
        """Send ``signal`` (a number or a name such as ``"TERM"``) to one of its processes."""
        self._request("POST", _path(container_id, "process", str(pid)), json={"signal": signal})

    def kill(self, container_id: str, signal: int | str = "SIGTERM") -> Container:
        """Send ``signal`` to the container's init process."""
        return self._update(container_id, {"signal": signal})

    def pause(self, container_id: str) -> Container:
        return self._update(container_id, {"status": "paused"})

    def resume(self, container_id: str) -> Container:
        return self._update(container_id, {"status": "running"})

    def delete(self, container_id: str, *, timeout: float | None = None) -> Container:
        """Stop (SIGTERM, then SIGKILL after ``timeout`` seconds) and remove the container."""
        params = {} if timeout is None else {"timeout": str(timeout)}
        # The daemon may wait out the whole grace before it answers: give it that much more.
        deadline = self._timeout + (timeout if timeout is not None else 10.0)
        timeout_ = httpx.Timeout(deadline, connect=CONNECT_TIMEOUT)
        result = self._request("DELETE", _path(container_id), params=params, timeout=timeout_)
        return cast(Container, result)

    def _update(self, container_id: str, body: dict[str, Any]) -> Container:
        return cast(Container, self._request("PATCH", _path(container_id), json=body))

    # --- checkpoints --------------------------------------------------------------------------

    def checkpoints(self, container_id: str, *, bundle_path: str | None = None) -> list[Checkpoint]:
        """The container's checkpoints, oldest first; ``bundle_path`` for a container the
        daemon does not list (a migration's target)."""
        params = {"bundlePath": bundle_path} if bundle_path is not None else None
        answer = self._request("GET", _path(container_id, "checkpoint"), params=params)
        return cast(list[Checkpoint], answer)

    def create_checkpoint(
        self,
        container_id: str,
        name: str,
        *,
        exit: bool = False,
        tcp: bool = False,
        unix_sockets: bool = False,
        shell: bool = False,
    ) -> Checkpoint:
        body = {"exit": exit, "tcp": tcp, "unixSockets": unix_sockets, "shell": shell}
        path = _path(container_id, "checkpoint", name)
        return cast(Checkpoint, self._request("POST", path, json=body))

    def delete_checkpoint(
        self, container_id: str, name: str, *, bundle_path: str | None = None
    ) -> None:
        params = {"bundlePath": bundle_path} if bundle_path is not None else None
        self._request("DELETE", _path(container_id, "checkpoint", name), params=params)

    # --- streams and figures ------------------------------------------------------------------

    @contextlib.contextmanager
    def events(
        self, *, since: str | None = None, container_id: str | None = None
    ) -> Iterator[Iterator[Event]]:
        """Past events from ``since`` on, then live ones, for as long as the caller reads."""
        params = {}
        if since is not None:
            params["since"] = since
        if container_id is not None:
            params["id"] = container_id
        with self._stream("/events", params) as lines:
            yield (cast(Event, self._decode(line)) for line in lines)

    @contextlib.contextmanager
    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> Iterator[Iterator[LogRecord]]:
        """The container's output; with ``follow``, until no process of it can write any more."""
        params = {"follow": "true" if follow else "false"}
        if tail is not None:
            params["tail"] = str(tail)
        with self._stream(_path(container_id, "logs"), params) as lines:
            yield (cast(LogRecord, self._decode(line)) for line in lines)

    def stats(self, container_id: str) -> dict[str, Any]:
        """cgroup figures (``cpu``, ``memory``, ``pids``, ``blkio``) as runc reports them."""
        return cast(dict[str, Any], self._request("GET", _path(container_id, "stats")))

    def metrics(self) -> str:
        """The Prometheus text exposition."""
        response = self._send("GET", "/metrics")
        return response.text

    # --- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decode(self._send(method, path, **kwargs).text)

    def _decode(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            # Something answers at the address, but not the daemon (or not this API version).
            snippet = text[:80]
            raise ClientError(f"the answer from {self.address} is not JSON: {snippet!r}") from None

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._translate_errors():
            response = self._http.request(method, path, **kwargs)
        _raise_for_status(response)
        return response

    @contextlib.contextmanager
    def _stream(self, path: str, params: dict[str, str]) -> Iterator[Iterator[str]]:
        # A stream may sit idle for as long as nothing happens: no read deadline.
        timeout = httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT, read=None)
        with (
            self._translate_errors(),
            self._http.stream("GET", path, params=params, timeout=timeout) as response,
        ):
            if response.is_error:
                response.read()
                _raise_for_status(response)
            yield (line for line in response.iter_lines() if line)

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        """httpx's transport errors as :class:`DaemonUnreachable`, naming the address."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise DaemonUnreachable(self.address, _reason(exc)) from exc
        except httpx.TransportError as exc:  # it answered once, then went quiet or away
            raise DaemonUnreachable(self.address, _reason(exc), lost=True) from exc


def _path(container_id: str, *rest: str) -> str:
    """``/containers/{id}/...``, each part quoted: an id such as ``a?b`` or ``../x`` stays one
    path segment (which the daemon refuses as an invalid id) instead of changing the request."""
    return "/containers" + "".join("/" + quote(part, safe="") for part in (container_id, *rest))


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        # Not the daemon's error shape (a proxy, or a different server at that address).
        message = response.text.strip() or response.reason_phrase
    raise ApiError(response.status_code, message)


def _reason(exc: httpx.TransportError) -> str:
    """What went wrong, in words: httpx's messages are sometimes empty or a bare errno tuple."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({text})"
    return text
