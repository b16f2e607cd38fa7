"""The shapes of the daemon's answers (docs/api.md), as ``TypedDict``s.

They describe the contract for type checkers and readers; they are not checked at run time.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


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
    stdin: NotRequired[bool]


class Exit(TypedDict):
    id: str
    exitStatus: int
    pid: NotRequired[int]
    exitedAt: NotRequired[str]


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
