"""The daemon's address when ``--address`` does not give it: as ``ctr-trio`` finds it.

``$CONTAINERD_TRIO_ADDRESS`` (the client's own variable, in any form ``ctr-trio --address``
takes) first, then ``$ADDRESS`` (the examples' older name, kept), then ``127.0.0.1:8888``. An
empty variable counts as unset, as it does for ``ctr-trio``.
"""

import os

from containerd_trio.client.cli import DEFAULT_ADDRESS, ENV_ADDRESS

#: The variables read, first to last.
VARIABLES = (ENV_ADDRESS, "ADDRESS")


def default_address() -> str:
    for name in VARIABLES:
        if value := os.environ.get(name):
            return value
    return DEFAULT_ADDRESS


def help_text() -> str:
    return f"the daemon's address (default ${ENV_ADDRESS}, else $ADDRESS, else {DEFAULT_ADDRESS})"
