"""What the migration routes answer: the target's session, an imported archive, and the steps
of a move as the source reports them."""

from __future__ import annotations

import enum

import attrs

from ..archive import BundleContent, ImageKind
from ..model import ContainerInfo
from ..validation import CHECKPOINT_NAME, CONTAINER_ID, MIGRATION_ID, doc


@attrs.frozen
class MigrationSession:
    """A migration's session on its target daemon."""

    id: str = attrs.field(
        metadata=doc("The session, in the paths of the other routes.", like=MIGRATION_ID)
    )
    container_id: str = attrs.field(
        metadata=doc("The container that moves here.", like=CONTAINER_ID)
    )
    bundle_path: str = attrs.field(metadata=doc("Where its bundle is (or will be) on this daemon."))
    checkpoint: str = attrs.field(
        metadata=doc("The checkpoint it will be restored from.", like=CHECKPOINT_NAME)
    )
    shared_bundle: bool = attrs.field(
        metadata=doc(
            "This daemon sees the source's bundle (shared storage, or one machine): the"
            " checkpoint needs no copy."
        )
    )


@attrs.frozen
class ImportedArchive:
    """A checkpoint archive, imported."""

    checkpoint: str | None = attrs.field(
        metadata=doc("The checkpoint it held (absent: the bundle alone).", like=CHECKPOINT_NAME)
    )
    kind: ImageKind = attrs.field(metadata=doc("A checkpoint, or a pre-copy round's images."))
    bundle: BundleContent = attrs.field(metadata=doc("How much of the bundle came along."))
    bundle_path: str = attrs.field(metadata=doc("The bundle it was unpacked under."))
    entries: int = attrs.field(metadata=doc("Members of the archive."))
    bytes: int = attrs.field(metadata=doc("Bytes of file data written."))
    archive_bytes: int = attrs.field(metadata=doc("Bytes of the archive as it arrived."))


#: The label a container restored by a migration carries: the migration's checkpoint name
#: (random), by which its source knows it as the one it moved (docs/checkpoint.md).
MIGRATION_LABEL = "containerd-trio.migration"


class StepName(enum.Enum):
    SESSION = "session"
    BUNDLE = "bundle"
    PRE_COPY = "pre-copy"
    FREEZE = "freeze"
    CHECKPOINT = "checkpoint"
    TRANSFER = "transfer"
    RESTORE = "restore"
    FINISH = "finish"
    DONE = "done"
    FAILED = "failed"


@attrs.frozen
class MigrationStep:
    """One line of a migration's progress: a step done, then ``done`` or ``failed``."""

    step: StepName = attrs.field(
        metadata=doc(
            "session (the target agreed), bundle (the bundle copied while the container runs),"
            " pre-copy (a round of memory), freeze (the container paused: the downtime"
            " begins), checkpoint (CRIU dumped it), transfer (the checkpoint, and what changed"
            " in the rootfs, reached the target), restore (it runs on the target), finish (the"
            " target keeps it; the source's copy is removed); then done or failed."
        )
    )
    seconds: float = attrs.field(
        metadata=doc("How long the step took (done and failed: the whole migration).")
    )
    bytes: int | None = attrs.field(
        default=None,
        metadata=doc("What the step wrote or sent (done: everything sent to the target)."),
    )
    round: int | None = attrs.field(default=None, metadata=doc("pre-copy: which round, from 1."))
    downtime: float | None = attrs.field(
        default=None,
        metadata=doc("done: seconds from the freeze to the container running on the target."),
    )
    target: str | None = attrs.field(default=None, metadata=doc("session: the target's address."))
    container: ContainerInfo | None = attrs.field(
        default=None, metadata=doc("restore and done: the container, as the target lists it.")
    )
    error: str | None = attrs.field(default=None, metadata=doc("failed: what went wrong."))
    rolled_back: bool | None = attrs.field(
        default=None,
        metadata=doc(
            "failed: the container runs on the source again and the target aborted the session"
            " or had none (false: the error says what could not be undone)."
        ),
    )
