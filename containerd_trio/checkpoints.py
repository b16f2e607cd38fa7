"""Checkpoints on disk: ``{bundlePath}/checkpoints/{name}/``, CRIU's images plus our metadata.

They live in the bundle, not in the daemon's state dir, so that a checkpoint can restore a
container this daemon no longer lists, or one on another machine (copy the bundle). Beside the
images, ``checkpoint.json`` keeps what the listing shows and what restore must repeat to CRIU
(the same tcp, unix socket and shell options as at dump time).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import attrs

from . import timestamps
from .convert import converter
from .errors import Conflict, NotFound
from .runtime import CriuOptions

CHECKPOINTS_DIR = "checkpoints"
METADATA_NAME = "checkpoint.json"


@attrs.frozen
class CheckpointInfo:
    """One entry of the seed's listing."""

    name: str
    tcp: bool
    unix_sockets: bool
    shell: bool
    timestamp: str

    @property
    def criu_options(self) -> CriuOptions:
        return CriuOptions(
            tcp_established=self.tcp, ext_unix_sk=self.unix_sockets, shell_job=self.shell
        )


def checkpoints_dir(bundle: Path) -> Path:
    return bundle / CHECKPOINTS_DIR


def image_path(bundle: Path, name: str) -> Path:
    return checkpoints_dir(bundle) / name


def reserve(bundle: Path, name: str) -> Path:
    """Create the checkpoint's directory; 409 if a checkpoint of that name exists."""
    path = image_path(bundle, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()
    except FileExistsError:
        raise Conflict(f"checkpoint {name!r} already exists in {path.parent}") from None
    return path


def commit(bundle: Path, info: CheckpointInfo) -> None:
    """Write the metadata last: a directory without it is a checkpoint that never completed."""
    path = image_path(bundle, info.name) / METADATA_NAME
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(converter.unstructure(info)))
    os.replace(temporary, path)


def new_info(name: str, options: CriuOptions) -> CheckpointInfo:
    return CheckpointInfo(
        name=name,
        tcp=options.tcp_established,
        unix_sockets=options.ext_unix_sk,
        shell=options.shell_job,
        timestamp=timestamps.format_ns(timestamps.now_ns()),
    )


def load(bundle: Path, name: str) -> CheckpointInfo:
    path = image_path(bundle, name) / METADATA_NAME
    try:
        data = json.loads(path.read_bytes())
        return converter.structure(data, CheckpointInfo)
    except FileNotFoundError:
        raise NotFound(f"checkpoint {name!r} not found in {checkpoints_dir(bundle)}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise NotFound(f"checkpoint {name!r} has unreadable metadata: {exc}") from None


def list_all(bundle: Path) -> list[CheckpointInfo]:
    """Every completed checkpoint of the bundle, oldest first."""
    found = []
    try:
        entries = list(checkpoints_dir(bundle).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        try:
            found.append(load(bundle, entry.name))
        except NotFound:
            continue  # half-made or foreign directory
    found.sort(key=lambda info: (timestamps.parse_ns(info.timestamp), info.name))
    return found


def delete(bundle: Path, name: str) -> None:
    path = image_path(bundle, name)
    if not (path / METADATA_NAME).exists():
        raise NotFound(f"checkpoint {name!r} not found in {checkpoints_dir(bundle)}")
    shutil.rmtree(path)


def discard(path: Path) -> None:
    """Remove a checkpoint directory that did not complete."""
    shutil.rmtree(path, ignore_errors=True)


def criu_log_tail(work_path: Path, log_name: str, lines: int = 4) -> str:
    """What CRIU's own log says went wrong: its error lines, then its last lines.

    The error lines matter most (CRIU logs the cause, such as "Connected TCP socket, consider
    using --tcp-established option", well before the end of a long log); the last lines show
    where it stopped.
    """
    try:
        with open(work_path / log_name, "rb") as log:
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    errors = [line for line in all_lines if "Error (" in line][-8:]
    chosen = errors + [line for line in all_lines[-lines:] if line not in errors]
    return "\n".join(chosen)
