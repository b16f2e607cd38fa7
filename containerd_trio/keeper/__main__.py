"""``python -m containerd_trio.keeper``: a keeper for a server that runs in its own process.

The server (in the tests, or any embedding) starts this as its child, with fd 3 the channel
between them. The keeper then lives as long as that channel: when the server closes it (or
dies), the keeper stops its logger and exits.
"""

from __future__ import annotations

import socket

from ..host import become_subreaper, exit_now
from ..logfmt import setup_logging
from ..spawn import inherited
from ._keeper import Keeper
from ._wire import Channel


def main() -> None:
    setup_logging("info")
    become_subreaper()
    channel = Channel(socket.socket(fileno=inherited(3)))
    exit_now(Keeper(server_argv=None, embedded=channel).run())


if __name__ == "__main__":
    main()
