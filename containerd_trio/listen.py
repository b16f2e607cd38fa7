"""Where the API is served, and so where a client finds it: ``HOST:PORT`` or ``unix:PATH``.

The one grammar of an address, for the daemon's ``--listen`` and the client's ``--address``.
Kept apart from :mod:`.config` and free of third-party imports, so that ``ctr-trio`` can parse
an address without loading the daemon's settings (a few hundredths of a second per call).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .errors import quoted

#: Every form of an address a client takes (:meth:`.client.protocol.Endpoint.parse`): the two
#: a daemon listens on, the URLs of both (``http://unix:PATH`` is how the daemon's "serving
#: on" line names its socket), and docker's ``tcp://HOST:PORT``, as the client's help and
#: errors name them.
ADDRESS_FORMS = (
    "HOST:PORT, unix:PATH, http://HOST[:PORT], https://HOST[:PORT], http://unix:PATH"
    " or tcp://HOST:PORT"
)


class Listen(NamedTuple):
    """A TCP host and port, or a unix socket path."""

    host: str | None = None
    port: int | None = None
    unix_path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> Listen:
        if text.startswith("unix:"):
            path = text[len("unix:") :]
            if not path:
                raise ValueError("unix: needs a socket path, as in unix:/run/containerd-trio.sock")
            return cls(unix_path=Path(path))
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{quoted(text)} is not HOST:PORT or unix:PATH")
        host = host.strip("[]") or "127.0.0.1"
        return cls(host=host, port=int(port))

    @property
    def is_loopback(self) -> bool:
        if self.unix_path is not None:
            return True
        assert self.host is not None
        if self.host == "localhost":
            return True
        import ipaddress  # only the daemon asks, once: no need to load it for every client call

        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # [::ffff:127.0.0.1] is 127.0.0.1, the IPv4 address it maps (Python 3.11's
            # is_loopback said no: 3.13's reads the mapped address, as this does).
            return address.ipv4_mapped.is_loopback
        return address.is_loopback

    def hypercorn_bind(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.hypercorn_bind()
