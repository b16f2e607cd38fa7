"""Request bodies as attrs classes, structured by the daemon's one converter.

Each field is typed as strictly as JSON allows: cattrs refuses wrong types and unknown fields,
and :func:`containerd_trio.convert.structure` turns its complaint into a 400 naming the field.
"""

from __future__ import annotations

import enum
from typing import NewType

import attrs

from ..convert import converter
from ..model import ProcessSpec, Status
from ..runtime import CriuOptions
from ..validation import parse_signal

#: A signal as clients may write it: 9, "9", "KILL" or "SIGKILL".
Signal = NewType("Signal", int)
converter.register_structure_hook(Signal, lambda value, _: Signal(parse_signal(value)))


class DesiredStatus(enum.Enum):
    """The states a client may ask a container to move to (PATCH)."""

    PAUSED = "paused"
    RUNNING = "running"

    @property
    def status(self) -> Status:
        return Status(self.value)


def _desired_status(value: object, _: type) -> DesiredStatus:
    if value in ("paused", "running"):
        return DesiredStatus(value)
    raise ValueError(f'status must be "paused" or "running", not {value!r}')


converter.register_structure_hook(DesiredStatus, _desired_status)


@attrs.frozen
class StartRequest:
    bundle_path: str
    checkpoint: str | None = None
    labels: dict[str, str] = attrs.Factory(dict)


@attrs.frozen
class SignalRequest:
    signal: Signal


@attrs.frozen
class UpdateRequest:
    status: DesiredStatus | None = None
    signal: Signal | None = None


@attrs.frozen
class CheckpointRequest:
    exit: bool = False
    tcp: bool = False
    unix_sockets: bool = False
    shell: bool = False

    @property
    def criu_options(self) -> CriuOptions:
        return CriuOptions(
            tcp_established=self.tcp, ext_unix_sk=self.unix_sockets, shell_job=self.shell
        )


ExecRequest = ProcessSpec
