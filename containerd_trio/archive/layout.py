"""What a checkpoint archive holds, and where.

Paths in the archive are relative to the bundle, so that an import unpacks under the target
bundle as they are::

    containerd-trio-archive.json     the manifest, always the first member
    checkpoints/{name}/...           CRIU's images and checkpoint.json
    config.json                      with the bundle ("full" or "changes")
    rootfs/...                       "full": all of it; "changes": every directory, and the
                                     other entries changed since a time
    containerd-trio-rootfs-index.json   "changes": every rootfs path at export time, so that
                                     the import removes what was deleted

An archive may also carry the bundle alone (no checkpoint: the first round of a move, copying
the rootfs while the container runs on).

A checkpoint made with ``--parent-path`` (the final dump after pre-dumps) has a ``parent``
symlink to ``../{parent name}``: it travels as it is, and the parent must be imported first.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

from ..convert import json_type
from ..errors import InvalidRequest
from ..validation import check_id
from .tarstream import ArchiveError

MANIFEST_NAME = "containerd-trio-archive.json"
INDEX_NAME = "containerd-trio-rootfs-index.json"
CHECKPOINTS = "checkpoints"
ROOTFS = "rootfs"
PARENT_LINK = "parent"
FORMAT = "containerd-trio-checkpoint"
VERSION = 1


class BundleContent(enum.Enum):
    """How much of the bundle travels with the checkpoint."""

    NONE = "none"  # the checkpoint only: the target has the bundle already
    FULL = "full"  # config.json and the whole rootfs
    CHANGES = "changes"  # config.json, what changed in the rootfs since a time, and an index


class ImageKind(enum.Enum):
    CHECKPOINT = "checkpoint"  # a completed checkpoint: CRIU's images and checkpoint.json
    PRE_DUMP = "pre-dump"  # a pre-dump round: memory pages only, no metadata


@attrs.frozen
class Manifest:
    #: None: the bundle alone.
    checkpoint: str | None
    kind: ImageKind = ImageKind.CHECKPOINT
    bundle: BundleContent = BundleContent.NONE
    #: For CHANGES: rootfs entries whose ctime is at or after this (ns since the epoch).
    since_ns: int | None = None

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "checkpoint": self.checkpoint,
            "kind": self.kind.value,
            "bundle": self.bundle.value,
        }
        if self.since_ns is not None:
            document["sinceNs"] = self.since_ns
        return json.dumps(document).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise ArchiveError(f"the manifest {MANIFEST_NAME} is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ArchiveError(f"the manifest {MANIFEST_NAME} is not a {FORMAT} manifest")
        if document.get("version") != VERSION:
            raise ArchiveError(
                f"the archive's format version is {json_type(document.get('version'))},"
                f" not {VERSION}"
            )
        name = document.get("checkpoint")
        if name is not None and not isinstance(name, str):
            raise ArchiveError("the manifest's checkpoint is not a name")
        try:
            if name is not None:
                check_id(name, "checkpoint name")
            kind = ImageKind(document.get("kind"))
            bundle = BundleContent(document.get("bundle"))
        except (ValueError, InvalidRequest) as exc:
            raise ArchiveError(f"the manifest is invalid: {exc}") from None
        since = document.get("sinceNs")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            raise ArchiveError("the manifest's sinceNs is not an integer")
        if name is None and bundle is BundleContent.NONE:
            raise ArchiveError("the manifest names neither a checkpoint nor a bundle")
        return cls(checkpoint=name, kind=kind, bundle=bundle, since_ns=since)


def parent_of(link_target: str) -> str | None:
    """The parent checkpoint a ``parent`` symlink names, if it is ``../{valid name}``."""
    head, _, name = link_target.partition("/")
    if head != ".." or "/" in name:
        return None
    try:
        return check_id(name, "checkpoint name")
    except InvalidRequest:
        return None
