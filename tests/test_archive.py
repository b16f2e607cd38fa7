"""Checkpoint archives: export as a stream, import with every check, and a real round trip
through runc and CRIU (a checkpoint exported from one bundle path restores at another)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import sys
import tarfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from werkzeug.exceptions import RequestTimeout

from containerd_trio import checkpoints
from containerd_trio.api.upload import StreamedBody
from containerd_trio.archive import (
    BundleContent,
    Compression,
    ExportOptions,
    ImportLimits,
    Manifest,
    export,
    import_archive,
    plan_export,
)
from containerd_trio.archive.layout import FORMAT, INDEX_NAME, MANIFEST_NAME, VERSION
from containerd_trio.archive.tarstream import CHUNK
from containerd_trio.errors import Conflict, InvalidRequest, NotFound, quoted
from containerd_trio.restore_net import prepare_restore
from containerd_trio.runtime import CriuOptions

from .helpers import (
    COUNTER,
    BundleFactory,
    RunningDaemon,
    TargetHost,
    now,
    start_container,
    wait_exit,
    wait_output,
)
from .runc_direct import DirectContainer, make_runc
from .test_copy import DEEP, make_chain, remove_chain

# --- a bundle with a checkpoint, without runc ---------------------------------------------------


def fake_checkpoint(bundle: Path, name: str = "cp") -> None:
    """CRIU-like images and the daemon's metadata (the real thing is in the last test)."""
    images = checkpoints.reserve(bundle, name)
    (images / "inventory.img").write_bytes(b"inventory")
    (images / "pages-1.img").write_bytes(os.urandom(3 * CHUNK + 100))  # several chunks
    checkpoints.commit(bundle, checkpoints.new_info(name, CriuOptions()))


def make_source(root: Path) -> Path:
    bundle = root / "source"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "etc" / "deep" / "er").mkdir(parents=True)
    (rootfs / "bin" / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    (rootfs / "bin" / "tool").chmod(0o755)
    os.link(rootfs / "bin" / "tool", rootfs / "bin" / "tool2")
    (rootfs / "bin" / "sh").symlink_to("tool")
    (rootfs / "bin" / "abs").symlink_to("/bin/tool")  # a path in the container
    (rootfs / "etc" / "deep" / "er" / "conf").write_text("x" * 1000)
    (rootfs / "etc" / "suid").write_bytes(b"s")
    (rootfs / "etc" / "suid").chmod(0o4755)
    (rootfs / "tmp").mkdir(mode=0o1777)
    (rootfs / "tmp").chmod(0o1777)
    (bundle / "config.json").write_text(json.dumps({"root": {"path": "rootfs"}, "x": 1}))
    fake_checkpoint(bundle)
    return bundle


def next_clock_tick(reference: Path, probe: Path) -> int:
    """A ctime later than ``reference``'s, taken from the filesystem's own (coarse) clock:
    what is written from now on has a ctime at or after it. Waits for the clock to tick."""
    probe.touch()
    while (ctime := os.stat(probe).st_ctime_ns) <= os.stat(reference).st_ctime_ns:
        os.utime(probe)
    return ctime


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def feed(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    """An upload as HTTP delivers it: in pieces that ignore tar's block boundaries."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def tree(root: Path) -> dict[str, tuple[str, int, object]]:
    """What a directory holds: kind, permission bits and content (or link target)."""
    found: dict[str, tuple[str, int, object]] = {}
    for current, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(current, name)
            info = os.lstat(path)
            mode = stat.S_IMODE(info.st_mode)
            relative = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", 0, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = ("dir", mode, None)
            else:
                found[relative] = ("file", mode, path.read_bytes())
    return found


def without_setid(source: dict[str, tuple[str, int, object]]) -> dict[str, object]:
    return {k: (kind, mode & ~0o6000, data) for k, (kind, mode, data) in source.items()}


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.GZIP])
async def test_full_bundle_round_trip(tmp_path: Path, compression: Compression) -> None:
    source = make_source(tmp_path)
    plan = plan_export(source, "cp", ExportOptions(BundleContent.FULL, compression=compression))
    chunks = [chunk async for chunk in plan.chunks()]
    assert max(len(chunk) for chunk in chunks) < 2 * CHUNK  # streamed, never whole
    assert len(chunks) >= 3
    target = tmp_path / "elsewhere" / "target"
    result = await import_archive(feed(b"".join(chunks)), target)
    assert (result.checkpoint, result.bundle_content, result.bundle) == (
        "cp", BundleContent.FULL, target
    )  # fmt: skip
    assert result.archive_bytes == sum(map(len, chunks))
    expected = without_setid(tree(source))
    assert without_setid(tree(target)) == expected
    assert tree(target)["rootfs/etc/suid"][1] == 0o755  # setuid dropped
    assert tree(target)["rootfs/tmp"][1] == 0o1777  # the sticky bit is no risk: kept
    tool = os.stat(target / "rootfs/bin/tool")
    assert tool.st_ino == os.stat(target / "rootfs/bin/tool2").st_ino and tool.st_nlink == 2
    assert checkpoints.list_all(target)[0].name == "cp"
    assert [p.name for p in tmp_path.joinpath("elsewhere").iterdir()] == ["target"]


async def test_checkpoint_only_into_an_existing_bundle(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    target = tmp_path / "target"
    (target / "rootfs").mkdir(parents=True)
    (target / "config.json").write_text("{}")
    before = tree(target)
    plan = plan_export(source, "cp")
    result = await import_archive(feed(await collect(plan.chunks())), target, name="cp")
    assert result.bundle_content is BundleContent.NONE
    after = tree(target)
    assert {k: v for k, v in after.items() if k not in before} == {
        k: v for k, v in tree(source).items() if k.startswith("checkpoints")
    }
    # The same again is a conflict, and leaves nothing.
    with pytest.raises(Conflict, match="already exists"):
        await import_archive(feed(await collect(plan.chunks())), target)
    assert tree(target) == after


async def test_rootfs_changes_bring_a_copy_up_to_date(tmp_path: Path) -> None:
    """A first full copy, then only what changed since it began: written, added, removed,
    a file that became a directory, a retargeted symlink."""
    source = make_source(tmp_path)
    target = tmp_path / "target"
    first_copy_began = next_clock_tick(source / "rootfs" / "bin" / "tool", tmp_path / "probe")
    await import_archive(
        feed(await collect(plan_export(source, "cp", ExportOptions(BundleContent.FULL)).chunks())),
        target,
    )
    checkpoints.delete(source, "cp")
    rootfs = source / "rootfs"
    (rootfs / "etc" / "deep" / "er" / "conf").write_text("changed")
    (rootfs / "etc" / "new").write_text("new")
    (rootfs / "bin" / "tool2").unlink()
    (rootfs / "etc" / "suid").unlink()
    (rootfs / "etc" / "suid").mkdir()
    (rootfs / "bin" / "sh").unlink()
    (rootfs / "bin" / "sh").symlink_to("abs")
    fake_checkpoint(source, "cp2")
    options = ExportOptions(BundleContent.CHANGES, since_ns=first_copy_began)
    plan = plan_export(source, "cp2", options)
    data = await collect(plan.chunks())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "rootfs/bin/abs" not in names  # unchanged: not sent again
    assert "rootfs/etc/new" in names and INDEX_NAME in names
    result = await import_archive(feed(data), target)
    assert result.bundle_content is BundleContent.CHANGES
    expected = {k: v for k, v in tree(source).items() if not k.startswith("checkpoints/cp/")}
    expected.pop("checkpoints/cp", None)
    actual = {k: v for k, v in tree(target).items() if not k.startswith("checkpoints/cp/")}
    actual.pop("checkpoints/cp", None)
    assert without_setid(actual) == without_setid(expected)
    assert not [p for p in target.iterdir() if p.name.startswith(".import")]


async def test_the_bundle_alone_then_its_changes(tmp_path: Path) -> None:
    """The first round of a move: the bundle without any checkpoint, while the container runs;
    later only what changed, still without a checkpoint."""
    source = make_source(tmp_path)
    target = tmp_path / "target"
    since = next_clock_tick(source / "rootfs" / "etc" / "suid", tmp_path / "probe")
    plan = plan_export(source, None, ExportOptions(BundleContent.FULL))
    result = await import_archive(feed(await collect(plan.chunks())), target)
    assert result.checkpoint is None and not (target / "checkpoints").exists()
    (source / "rootfs" / "etc" / "later").write_text("later")
    plan = plan_export(source, None, ExportOptions(BundleContent.CHANGES, since_ns=since))
    await import_archive(feed(await collect(plan.chunks())), target)
    expected = {k: v for k, v in tree(source).items() if not k.startswith("checkpoints")}
    assert without_setid(tree(target)) == without_setid(expected)
    with pytest.raises(InvalidRequest, match="needs a checkpoint, the bundle, or both"):
        plan_export(source, None)


async def test_export_errors_come_before_the_first_byte(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    with pytest.raises(NotFound, match="checkpoint 'nope' not found"):
        plan_export(source, "nope")
    with pytest.raises(InvalidRequest, match="invalid checkpoint name"):
        plan_export(source, "../cp")
    with pytest.raises(InvalidRequest, match="needs the time"):
        plan_export(source, "cp", ExportOptions(BundleContent.CHANGES))
    (source / "config.json").write_text("{}")
    with pytest.raises(InvalidRequest, match="cannot export the bundle"):
        plan_export(source, "cp", ExportOptions(BundleContent.FULL))


@pytest.mark.deadline(10)
async def test_an_export_reads_the_config_only_from_a_regular_file(tmp_path: Path) -> None:
    """A FIFO as config.json held the daemon's one thread in open() until something wrote to
    it (no request answered meanwhile); one nested too deeply was a 500 with a traceback
    (RecursionError); a link was followed out of the bundle. Each is a 400 now."""
    source = make_source(tmp_path)
    config = source / "config.json"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"root": {"path": "rootfs"}}')
    full = ExportOptions(BundleContent.FULL)
    config.unlink()
    config.symlink_to(elsewhere)
    with pytest.raises(InvalidRequest, match=r"config\.json is a symbolic link"):
        plan_export(source, "cp", full)
    config.unlink()
    config.write_text("[" * 50_000)
    with pytest.raises(InvalidRequest, match=r"config\.json is not a usable config: it is nested"):
        plan_export(source, "cp", full)
    config.unlink()
    os.mkfifo(config)
    # In a thread given up at the deadline: the old code blocks for ever on the FIFO.
    with pytest.raises(InvalidRequest, match=r"config\.json is not a regular file \(it is a FIFO"):
        await trio.to_thread.run_sync(plan_export, source, "cp", full, abandon_on_cancel=True)


# --- device nodes -------------------------------------------------------------------------------

#: What debootstrap makes in a rootfs's dev/ (its setup_devices_simple): name, character
#: device numbers, mode, group.
USUAL_DEVICES = [
    ("null", 1, 3, 0o666, 0), ("zero", 1, 5, 0o666, 0), ("full", 1, 7, 0o666, 0),
    ("random", 1, 8, 0o666, 0), ("urandom", 1, 9, 0o666, 0), ("tty", 5, 0, 0o666, 5),
    ("console", 5, 1, 0o600, 0), ("ptmx", 5, 2, 0o666, 5),
]  # fmt: skip


def make_node(path: Path, kind: int, major: int, minor: int, mode: int, gid: int = 0) -> None:
    os.mknod(path, kind | 0o600, os.makedev(major, minor))
    os.chmod(path, mode)  # mknod's mode went through the umask
    os.chown(path, 0, gid)


def nodes(rootfs: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """The device nodes under ``rootfs``: kind, numbers, permission bits, owner and group."""
    found: dict[str, tuple[int, int, int, int, int]] = {}
    for current, _, files in os.walk(rootfs):
        for name in files:
            info = os.lstat(Path(current, name))
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                found[str(Path(current, name).relative_to(rootfs))] = (
                    stat.S_IFMT(info.st_mode), info.st_rdev, stat.S_IMODE(info.st_mode),
                    info.st_uid, info.st_gid,
                )  # fmt: skip
    return found


async def test_the_usual_device_nodes_of_a_rootfs_travel_with_it(tmp_path: Path) -> None:
    """A rootfs made by debootstrap has dev/null, dev/zero, ... dev/console: the export sent
    them and the import refused every device node, so no such bundle could be moved. They
    arrive now, with their changes; only the owner is made root."""
    source = make_source(tmp_path)
    dev = source / "rootfs" / "dev"
    dev.mkdir()
    for name, major, minor, mode, gid in USUAL_DEVICES[:-1]:
        make_node(dev / name, stat.S_IFCHR, major, minor, mode, gid)
    since = next_clock_tick(dev / "tty", tmp_path / "probe")
    target = tmp_path / "target"
    await import_archive(
        feed(await collect(plan_export(source, "cp", ExportOptions(BundleContent.FULL)).chunks())),
        target,
    )
    assert nodes(target / "rootfs") == nodes(source / "rootfs") and len(nodes(target)) == 7
    # The last one comes with the changes, and one removed goes.
    _, major, minor, mode, gid = USUAL_DEVICES[-1]
    make_node(dev / "ptmx", stat.S_IFCHR, major, minor, mode, gid)
    (dev / "full").unlink()
    fake_checkpoint(source, "cp2")
    options = ExportOptions(BundleContent.CHANGES, since_ns=since)
    await import_archive(feed(await collect(plan_export(source, "cp2", options).chunks())), target)
    assert nodes(target / "rootfs") == nodes(source / "rootfs")
    assert sorted(nodes(target / "rootfs")) == sorted(
        f"dev/{name}" for name, *_ in USUAL_DEVICES if name != "full"
    )
    with open(target / "rootfs/dev/zero", "rb") as zero:  # the device itself, not a copy
        assert zero.read(4) == b"\0\0\0\0"


async def test_an_export_refuses_what_the_import_would_before_the_first_byte(
    tmp_path: Path,
) -> None:
    """A device node that no archive may carry in the rootfs: the export sent it, and the
    import refused the archive only then (a move failed after copying all of the rootfs).
    The export refuses it now, naming each, before the first byte; a checkpoint alone still
    goes. A FIFO beside them is no reason: it travels."""
    source = make_source(tmp_path)
    dev = source / "rootfs" / "dev"
    dev.mkdir()
    make_node(dev / "null", stat.S_IFCHR, 1, 3, 0o666)
    make_node(dev / "mem", stat.S_IFCHR, 1, 1, 0o600)
    make_node(dev / "loop0", stat.S_IFBLK, 7, 0, 0o600)
    os.mkfifo(source / "rootfs" / "etc" / "deep" / "pipe")
    for options in (
        ExportOptions(BundleContent.FULL),
        ExportOptions(BundleContent.CHANGES, since_ns=0),
    ):
        with pytest.raises(InvalidRequest) as refused:
            plan_export(source, "cp", options)
        message = refused.value.message
        assert message.startswith("cannot export the bundle: its rootfs holds what no import")
        for named in ("'dev/loop0' (the block device 7:0)", "'dev/mem' (the character device 1:1)"):
            assert named in message, message
        assert "dev/null" not in message and "pipe" not in message, message
    await collect(plan_export(source, "cp").chunks())
    # One made after the plan's check (a running container's mknod) is left out of the
    # stream, so that the archive still imports.
    for node in (dev / "mem", dev / "loop0"):
        node.unlink()
    plan = plan_export(source, "cp", ExportOptions(BundleContent.FULL))
    make_node(dev / "mem", stat.S_IFCHR, 1, 1, 0o600)
    data = await collect(plan.chunks())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "rootfs/dev/null" in names and "rootfs/dev/mem" not in names
    await import_archive(feed(data), tmp_path / "target")
    assert list(nodes(tmp_path / "target/rootfs")) == ["dev/null"]
    assert stat.S_ISFIFO(os.lstat(tmp_path / "target/rootfs/etc/deep/pipe").st_mode)


def test_an_exports_check_walks_a_tree_deeper_than_pythons_recursion(tmp_path: Path) -> None:
    """The check for what no import takes holds no Python frame a level (a container's
    ``mkdir -p`` can nest past the recursion limit): a device at the bottom of a 1100-deep
    tree is named, not a RecursionError (a 500)."""
    source = make_source(tmp_path)
    data = source / "rootfs" / "data"
    data.mkdir()
    fd = make_chain(data)
    try:
        os.mknod("mem", stat.S_IFCHR | 0o600, os.makedev(1, 1), dir_fd=fd)
    finally:
        os.close(fd)
    try:
        with pytest.raises(InvalidRequest) as refused:
            plan_export(source, "cp", ExportOptions(BundleContent.FULL))
        deepest = "data/" + "d/" * DEEP + "mem"
        assert f"{quoted(deepest)} (the character device 1:1)" in refused.value.message
    finally:
        remove_chain(data)


async def test_a_device_node_is_made_root_owned_with_a_mode_no_wider_than_the_hosts(
    tmp_path: Path,
) -> None:
    """Whatever mode and owner the archive says: the console only for root, as on any host,
    the others at most read and write for everyone, never owned by anyone but root (an owner
    can chmod)."""
    data = archive(
        [
            *full_bundle(), directory("rootfs/dev"),
            member("rootfs/dev/console", type=tarfile.CHRTYPE, devmajor=5, devminor=1,
                   mode=0o6666, uid=1000, gid=1000),
            member("rootfs/dev/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3,
                   mode=0o4777, uid=1000, gid=5),
            member("rootfs/dev/tty", type=tarfile.CHRTYPE, devmajor=5, devminor=0, mode=0o620),
        ]
    )  # fmt: skip
    await import_archive(feed(data), tmp_path / "b", limits=ImportLimits(keep_setuid=True))
    character = stat.S_IFCHR
    assert nodes(tmp_path / "b/rootfs") == {
        "dev/console": (character, os.makedev(5, 1), 0o600, 0, 1000),
        "dev/null": (character, os.makedev(1, 3), 0o666, 0, 5),
        "dev/tty": (character, os.makedev(5, 0), 0o620, 0, 0),
    }


# --- FIFOs and sockets -------------------------------------------------------------------------


def fifos(rootfs: Path) -> dict[str, tuple[int, int, int, int]]:
    """The FIFOs under ``rootfs``: permission bits, owner, group and modification time."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for current, _, files in os.walk(rootfs):
        for name in files:
            info = os.lstat(Path(current, name))
            if stat.S_ISFIFO(info.st_mode):
                found[str(Path(current, name).relative_to(rootfs))] = (
                    stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, int(info.st_mtime),
                )  # fmt: skip
    return found


def make_fifo(path: Path, mode: int, uid: int, gid: int, mtime: int) -> None:
    os.mkfifo(path)
    os.chmod(path, mode)  # mkfifo's mode went through the umask
    os.chown(path, uid, gid)
    os.utime(path, (mtime, mtime))


async def test_a_fifo_in_the_rootfs_travels_with_its_mode_owner_and_time(tmp_path: Path) -> None:
    """A named pipe in the rootfs (docker export and tar carry them): the export refused the
    bundle and the import refused any archive with one, so such a container could neither be
    exported with its bundle nor moved with it. It arrives now as a FIFO, as it was, also
    with the changes; a socket, which tar has no type for, is left out, as docker and tar do."""
    source = make_source(tmp_path)
    rootfs = source / "rootfs"
    make_fifo(rootfs / "etc" / "deep" / "pipe", 0o620, 1000, 1001, 1_600_000_000)
    make_fifo(rootfs / "tmp" / "shared", 0o666, 0, 0, 1_700_000_000)
    os.mknod(rootfs / "tmp" / "socket", stat.S_IFSOCK | 0o600)
    since = next_clock_tick(rootfs / "tmp" / "socket", tmp_path / "probe")
    plan = plan_export(source, "cp", ExportOptions(BundleContent.FULL))
    data = await collect(plan.chunks())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("rootfs/etc/deep/pipe").isfifo()
        assert "rootfs/tmp/socket" not in tar.getnames()
    target = tmp_path / "target"
    await import_archive(feed(data), target)
    assert fifos(target / "rootfs") == fifos(rootfs) and len(fifos(rootfs)) == 2
    assert not (target / "rootfs/tmp/socket").exists()
    # The changes bring a new one and take away one removed.
    make_fifo(rootfs / "bin" / "later", 0o640, 0, 5, 1_650_000_000)
    (rootfs / "tmp" / "shared").unlink()
    fake_checkpoint(source, "cp2")
    options = ExportOptions(BundleContent.CHANGES, since_ns=since)
    await import_archive(feed(await collect(plan_export(source, "cp2", options).chunks())), target)
    assert fifos(target / "rootfs") == fifos(rootfs)
    assert sorted(fifos(rootfs)) == ["bin/later", "etc/deep/pipe"]


async def test_a_fifos_setid_bits_go_as_a_files_do(tmp_path: Path) -> None:
    """The import's check of modes is the one it makes for a file: setuid and setgid are
    dropped unless the limits keep them; the owner the archive says is kept."""
    pipe = member("rootfs/pipe", type=tarfile.FIFOTYPE, mode=0o6640, uid=1000, gid=1001, mtime=5)
    await import_archive(feed(archive([*full_bundle(), pipe])), tmp_path / "a")
    assert fifos(tmp_path / "a/rootfs") == {"pipe": (0o640, 1000, 1001, 5)}
    await import_archive(
        feed(archive([*full_bundle(), pipe])), tmp_path / "b",
        limits=ImportLimits(keep_setuid=True),
    )  # fmt: skip
    assert fifos(tmp_path / "b/rootfs") == {"pipe": (0o6640, 1000, 1001, 5)}


# --- hostile archives ---------------------------------------------------------------------------

Member = tuple[tarfile.TarInfo, bytes]


def member(name: str, data: bytes = b"", **fields: object) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def directory(name: str, **fields: object) -> Member:
    return member(name, b"", type=tarfile.DIRTYPE, mode=0o755, **fields)


def manifest(bundle: BundleContent = BundleContent.NONE, name: str = "cp") -> Member:
    return member(MANIFEST_NAME, Manifest(checkpoint=name, bundle=bundle).to_json())


def images(name: str = "cp") -> list[Member]:
    metadata = json.dumps(
        {"name": name, "tcp": False, "unixSockets": False, "shell": False,
         "timestamp": "2026-11-29T00:00:00.000000000+00:00"}
    ).encode()  # fmt: skip
    return [
        directory("checkpoints"),
        directory(f"checkpoints/{name}"),
        member(f"checkpoints/{name}/inventory.img", b"inv"),
        member(f"checkpoints/{name}/checkpoint.json", metadata),
    ]


def full_bundle() -> list[Member]:
    return [
        manifest(BundleContent.FULL), *images(),
        member("config.json", b'{"root": {"path": "rootfs"}}'), directory("rootfs"),
    ]  # fmt: skip


def archive(members: list[Member], *, fmt: int = tarfile.PAX_FORMAT, end: bool = True) -> bytes:
    """The archive tar would write; without its end-of-archive marker if ``end`` is False."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        content_end = tar.offset
    return out.getvalue() if end else out.getvalue()[:content_end]


@contextlib.contextmanager
def before_first_rename(name: str, act: Callable[[], object]) -> Iterator[threading.Event]:
    """Run ``act`` just before the first rename (``os.rename``, ``os.replace``) of an entry
    named ``name`` within the block, in the thread that renames: a process racing the daemon
    (a container, a bundle's writer) that wins for sure. The event is set once it has. An
    audit hook stays for the rest of the run: it is inert outside the block, and acts once."""
    armed, done = threading.Event(), threading.Event()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and armed.is_set() and Path(os.fsdecode(args[0])).name == name:
            armed.clear()
            act()
            done.set()

    sys.addaudithook(hook)
    armed.set()
    try:
        yield done
    finally:
        armed.clear()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """An existing bundle (for checkpoint-only archives); full ones go to a sibling path."""
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text('{"root": {"path": "rootfs"}}')
    return bundle


BIG = member("rootfs/big", b"b" * 3000)

#: name: (the archive, the problem its refusal names, whether it brings the bundle)
HOSTILE: dict[str, tuple[Callable[[], bytes], str] | tuple[Callable[[], bytes], str, bool]] = {
    "no manifest": (lambda: archive(images()), "does not start with its manifest"),
    "dot-dot": (
        lambda: archive([manifest(), *images(), member("checkpoints/cp/../../../evil", b"x")]),
        "climbs out with '..'",
    ),
    "absolute": (
        lambda: archive([manifest(), *images(), member("/etc/evil", b"x")]),
        "is an absolute path",
    ),
    "outside the layout": (
        lambda: archive([manifest(), *images(), member("etc/passwd", b"x")]),
        "outside the archive's layout",
    ),
    "rootfs without the bundle": (
        lambda: archive([manifest(), *images(), member("rootfs/x", b"x")]),
        "outside the archive's layout",
    ),
    "another checkpoint": (
        lambda: archive([manifest(), *images(), member("checkpoints/other/x", b"x")]),
        "outside the archive's layout",
    ),
    "symlink out of the rootfs": (
        lambda: archive(
            [*full_bundle(), member("rootfs/a", type=tarfile.SYMTYPE, linkname="../../../etc")]
        ),
        "points out of the rootfs",
    ),
    "through a symlink": (
        lambda: archive(
            [
                *full_bundle(),
                member("rootfs/a", type=tarfile.SYMTYPE, linkname="/"),
                member("rootfs/a/etc/passwd", b"x"),
            ]
        ),
        "goes through the symlink 'rootfs/a'",
    ),
    "symlink among the images": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/pages.img", type=tarfile.SYMTYPE, linkname="/etc"),
            ]
        ),
        "allowed only in the rootfs",
    ),
    "parent link out": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/parent", type=tarfile.SYMTYPE, linkname="/etc"),
            ]
        ),
        "allowed only in the rootfs",
    ),
    "parent the target lacks": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/parent", type=tarfile.SYMTYPE, linkname="../pd1"),
            ]
        ),
        "builds on 'pd1', which the target bundle does not have",
    ),
    "hard link out": (
        lambda: archive(
            [*full_bundle(), member("rootfs/pw", type=tarfile.LNKTYPE, linkname="/etc/passwd")]
        ),
        "is an absolute path",
    ),
    "hard link to a file not in the archive": (
        lambda: archive(
            [
                *full_bundle(),
                member("rootfs/pw", type=tarfile.LNKTYPE, linkname="rootfs/etc/passwd"),
            ]
        ),
        "must name a file of this archive",
    ),
    "hard link across areas": (
        lambda: archive(
            [
                *full_bundle(),
                member("rootfs/inv", type=tarfile.LNKTYPE, linkname="checkpoints/cp/inventory.img"),
            ]
        ),
        "must name a file of this archive",
    ),
    "character device": (
        lambda: archive(
            [*full_bundle(), member("rootfs/mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1)]
        ),
        "'rootfs/mem' is the character device 1:1, which no archive may carry: only the"
        " character devices null 1:3, zero 1:5,",
    ),
    "block device": (
        lambda: archive(
            [*full_bundle(), member("rootfs/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)]
        ),
        "'rootfs/sda' is the block device 8:0, which no archive may carry",
    ),
    "block device with the numbers of null": (  # a RAM disk
        lambda: archive(
            [*full_bundle(), member("rootfs/ram3", type=tarfile.BLKTYPE, devmajor=1, devminor=3)]
        ),
        "'rootfs/ram3' is the block device 1:3, which no archive may carry",
    ),
    "a harmless device among the images": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
            ]
        ),
        "'checkpoints/cp/null' is the character device 1:3: an archive carries device nodes"
        " only in its rootfs",
    ),
    "a fifo among the images": (
        lambda: archive(
            [manifest(), *images(), member("checkpoints/cp/fifo", type=tarfile.FIFOTYPE)]
        ),
        "'checkpoints/cp/fifo' is a FIFO: an archive carries FIFOs only in its rootfs",
    ),
    "a fifo through a symlink": (
        lambda: archive(
            [
                *full_bundle(),
                member("rootfs/etc", type=tarfile.SYMTYPE, linkname="/etc"),
                member("rootfs/etc/initctl", type=tarfile.FIFOTYPE),
            ]
        ),
        "'rootfs/etc/initctl' goes through the symlink 'rootfs/etc'",
    ),
    "twice": (
        lambda: archive([*full_bundle(), member("rootfs/x", b"1"), member("rootfs/x", b"2")]),
        "appears twice",
    ),
    "file too large": (
        lambda: archive([*full_bundle(), member("rootfs/big", b"x" * 5000)]),
        "more than the 4096 allowed per file",
    ),
    "too much in total": (
        lambda: archive([*full_bundle(), *[member(f"rootfs/f{i}", b"x" * 4000) for i in range(3)]]),
        "more than the 10000 bytes allowed in total",
    ),
    "too many entries": (
        lambda: archive([*full_bundle(), *[member(f"rootfs/e{i}") for i in range(30)]]),
        "more than 30 entries",
    ),
    "huge PAX header": (
        lambda: archive([*full_bundle(), member("rootfs/x", pax_headers={"comment": "y" * 70000})]),
        "extended header of",
    ),
    "no images": (
        lambda: archive([manifest(), directory("checkpoints"), directory("checkpoints/cp")]),
        "no CRIU images",
    ),
    "no metadata": (lambda: archive([manifest(), *images()[:3]]), "not found in the archive"),
    # What the checkpoint kept of its container beside the images, read again by its restore:
    # before, accepted as it came, and the restore was the first to say (or, for the process,
    # took what it said as what the start ran).
    "a kept process that is no process": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/process.json", b'{"process": {"args": []}}'),
            ]
        ),
        "checkpoint 'cp' has unreadable process.json: process: args must hold at least the"
        " program to run",
    ),
    "a kept process that names nothing": (
        lambda: archive(
            [manifest(), *images(), member("checkpoints/cp/process.json", b'{"process": {}}')]
        ),
        "checkpoint 'cp' has unreadable process.json: its process names nothing",
    ),
    "a kept process that is not JSON": (
        lambda: archive([manifest(), *images(), member("checkpoints/cp/process.json", b"{")]),
        "checkpoint 'cp' has unreadable process.json",
    ),
    # The container's labels, autoRemove and restart policy, kept beside its process since
    # 2026-12-03: a restore with no record takes them for the container's.
    "kept labels no start takes": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member("checkpoints/cp/process.json", b'{"process": null, "labels": {"": "x"}}'),
            ]
        ),
        "checkpoint 'cp' has unreadable process.json: labels holds a label with an empty name",
    ),
    "a kept restart policy that is none": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member(
                    "checkpoints/cp/process.json",
                    b'{"process": null, "restartPolicy": {"name": "sometimes"}}',
                ),
            ]
        ),
        "checkpoint 'cp' has unreadable process.json: restartPolicy: name must be one of no,",
    ),
    "a kept restart policy with autoRemove": (
        lambda: archive(
            [
                manifest(),
                *images(),
                member(
                    "checkpoints/cp/process.json",
                    b'{"process": null, "autoRemove": true, "restartPolicy": {"name": "always"}}',
                ),
            ]
        ),
        "checkpoint 'cp' has unreadable process.json: autoRemove cannot be given with"
        " restartPolicy 'always'",
    ),
    "kept limits that are no limits": (
        lambda: archive(
            [manifest(), *images(), member("checkpoints/cp/resources.json", b'{"memory": 3}')]
        ),
        "checkpoint 'cp' has unreadable resources.json",
    ),
    "no config": (
        lambda: archive([manifest(BundleContent.FULL), *images(), directory("rootfs")]),
        "holds no config.json",
    ),
    "a config rooted on the host": (
        lambda: archive(
            [
                manifest(BundleContent.FULL),
                *images(),
                member("config.json", b'{"root": {"path": "/"}}'),
                directory("rootfs"),
            ]
        ),
        "has root.path '/'",
    ),
    "not tar": (lambda: b"hello, this is not a tar archive" * 40, "broken tar header"),
    # Was "the archive is truncated: it ends inside a header", as of a tar cut short.
    "no body at all": (lambda: b"", "the request body is empty: send the tar archive"),
    "zstd": (lambda: b"\x28\xb5\x2f\xfd" + b"\0" * 600, "zstd archives are not supported"),
    "truncated in a file": (
        lambda: archive([*full_bundle(), BIG], end=False)[:-1000],
        "is truncated: it ends inside the data of 'rootfs/big'",
    ),
    "truncated in a header": (
        lambda: archive([*full_bundle(), BIG], end=False)[:-3100],
        "is truncated: it ends inside a header",
    ),
    "no end marker": (
        lambda: archive([*full_bundle(), BIG], end=False),
        "is truncated: it ends inside a header (no end-of-archive marker)",
    ),
    "gzip cut off": (
        lambda: _gzip(archive([*full_bundle(), BIG]))[:-20],
        "gzip stream is truncated",
        True,
    ),
    "gzip cut off after the end marker": (
        lambda: _gzip(archive([*full_bundle(), BIG]))[:-4],  # only the trailer's length
        "gzip stream is truncated",
        True,
    ),
    "corrupt gzip": (
        lambda: _gzip(archive(full_bundle()))[:30] + b"\xff" * 200,
        "gzip stream is broken",
        True,
    ),
    "another name": (
        lambda: archive([manifest(BundleContent.FULL, "other"), *images("other")]),
        "holds checkpoint 'other', not 'cp'",
    ),
    # Each of these was a 500 with a traceback (RecursionError, OSError, OverflowError).
    "a manifest nested too deeply": (
        lambda: archive([member(MANIFEST_NAME, b"[" * 4000)]),
        "the manifest containerd-trio-archive.json is not JSON",
    ),
    "metadata of the wrong shape": (
        lambda: archive(
            [manifest(), *images()[:3], member("checkpoints/cp/checkpoint.json", b"{}")]
        ),
        "has unreadable metadata: missing required field 'name'",
    ),
    "a config nested too deeply": (
        lambda: archive(
            [
                manifest(BundleContent.FULL),
                *images(),
                member("config.json", b"[" * 4000),
                directory("rootfs"),
            ]
        ),
        "its config.json is not an OCI config with root.path",
    ),
    "an index nested too deeply": (
        lambda: archive(
            [
                manifest(BundleContent.CHANGES),
                *images(),
                member("config.json", b'{"root": {"path": "rootfs"}}'),
                directory("rootfs"),
                member(INDEX_NAME, b"[" * 4000),
            ]
        ),
        f"its {INDEX_NAME} is not JSON",
    ),
    "a name too long": (
        lambda: archive([manifest(), *images(), member("checkpoints/cp/" + "a" * 300, b"x")]),
        "'checkpoints/cp/aaaaaaaaaaaaaaaaaaaaaaaaa'... cannot be unpacked: File name too long",
    ),
    "a symlink target too long": (
        lambda: archive(
            [*full_bundle(), member("rootfs/l", type=tarfile.SYMTYPE, linkname="/a" * 2100)]
        ),
        "'rootfs/l' cannot be unpacked: File name too long",
    ),
    "a modification time out of range": (
        lambda: archive([*full_bundle(), member("rootfs/x", b"x", pax_headers={"mtime": "1e300"})]),
        "'rootfs/x' has a modification time out of range: 1e+300",
    ),
    "a modification time that is not a number": (
        lambda: archive([*full_bundle(), directory("rootfs/d", pax_headers={"mtime": "nan"})]),
        "'rootfs/d' has a modification time out of range: nan",
    ),
    "a uid out of range": (
        lambda: archive([*full_bundle(), member("rootfs/x", b"x", pax_headers={"uid": "-2"})]),
        "'rootfs/x' has the uid -2: it must be between 0 and 4294967294",
    ),
    "a gid out of range": (
        lambda: archive([*full_bundle(), member("rootfs/x", b"x", pax_headers={"gid": "1" * 20})]),
        "'rootfs/x' has the gid 11111111111111111111: it must be between 0",
    ),
    # a message quotes 40 characters of what the client sent, however long
    "a long name outside the layout": (
        lambda: archive([*full_bundle(), member("elsewhere/" + "n" * 5000, b"x")]),
        "'elsewhere/" + "n" * 30 + "'... is outside the archive's layout",
    ),
}


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_archive_is_refused_and_leaves_nothing(target: Path, case: str) -> None:
    make, problem, *rest = HOSTILE[case]
    data = make()
    full = rest[0] if rest else b'"bundle": "full"' in data[:2048]
    destination = target.parent / "new" / "bundle" if full else target
    before = tree(target.parent)
    limits = ImportLimits(max_file_bytes=4096, max_total_bytes=10000, max_entries=30)
    with pytest.raises(InvalidRequest, match=re.escape(problem)) as raised:
        await import_archive(feed(data), destination, limits=limits, name="cp")
    assert raised.value.message.startswith("invalid checkpoint archive: ")
    assert tree(target.parent) == before


async def test_an_import_target_the_kernel_refuses_is_a_400(
    client: httpx.AsyncClient, target: Path
) -> None:
    """Where the archive is to go, as the client names it: a file or a loop of links on the
    way of a new bundle, a ``checkpoints`` that is a file or a link in an existing one. Each
    is a 400 saying why and leaves nothing (they were 500s with a traceback, and a link was
    followed: the checkpoint went where it pointed)."""
    root = target.parent
    (root / "file").write_text("x")
    (root / "loop").symlink_to(root / "loop")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    full = archive(full_bundle())
    cases = [
        (root / "file" / "b", full, f"cannot make {root}/file/.b.import-"),
        (root / "file" / "b" / "c", full, f"cannot make {root}/file/b for the bundle"),
        (root / "loop" / "b", full, f"cannot make {root}/loop for the bundle"),
        (target, archive([manifest(), *images()]), f"{target}/checkpoints is not a directory"),
        (target, archive([manifest(), *images()]), f"{target}/checkpoints is a symbolic link"),
    ]
    for n, (destination, data, problem) in enumerate(cases):
        if n == 3:
            (target / "checkpoints").write_text("x")
        if n == 4:
            (target / "checkpoints").unlink()
            (target / "checkpoints").symlink_to(elsewhere)
        before = tree(root)
        response = await client.put(
            "/containers/any/checkpoint/cp/archive",
            params={"bundlePath": str(destination)},
            content=data,
        )
        assert response.status_code == 400, response.text
        assert problem in response.json()["error"]
        assert tree(root) == before
    assert list(elsewhere.iterdir()) == []


async def test_changes_never_update_a_rootfs_through_a_link(target: Path) -> None:
    """A target bundle whose rootfs is a link to elsewhere: the import of rootfs changes
    removed everything there that its index did not list (and chowned what it kept). Now a
    400, and the link's target untouched."""
    elsewhere = target.parent / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "precious").write_text("x")
    (target / "rootfs").rmdir()
    (target / "rootfs").symlink_to(elsewhere)
    before = tree(target.parent)
    data = archive(
        [
            manifest(BundleContent.CHANGES), *images(),
            member("config.json", b'{"root": {"path": "rootfs"}}'), directory("rootfs"),
            member(INDEX_NAME, b"[]"),
        ]
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match=r"rootfs is a symbolic link: an import updates"):
        await import_archive(feed(data), target, name="cp")
    assert tree(target.parent) == before


async def test_changes_into_a_running_containers_rootfs_never_follow_a_link_it_swaps_in(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Rootfs changes imported into the bundle of a container that runs (the listed one's):
    the container swaps a directory the import just made for a link to a host directory while
    the import moves its files in (here as it moves its first one, the move held meanwhile:
    the race won for sure). The import followed the link, as root: the archive's file was
    written into the host's directory. Now every directory is opened beneath the rootfs
    without a link: the import is refused, the host's directory untouched."""
    client = daemon.client
    bundle = make_bundle()
    await start_container(client, "racer", bundle)
    host = tmp_path / "host-only"
    host.mkdir()

    async def swap_from_inside() -> None:
        since = now()
        script = f"mv /made /made.moved && ln -s {host} /made"
        response = await client.put(
            "/containers/racer/processes", json={"args": ["sh", "-c", script]}
        )
        assert response.status_code == 201, response.text
        assert await wait_exit(client, "racer", response.json()["pid"], since) == 0

    rootfs = bundle / "rootfs"
    index = [str(Path(d, n).relative_to(rootfs)) for d, ds, fs in os.walk(rootfs) for n in ds + fs]
    data = archive(
        [
            manifest(BundleContent.CHANGES), *images(),
            member("config.json", (bundle / "config.json").read_bytes()), directory("rootfs"),
            directory("rootfs/made"), member("rootfs/made/file", b"planted"),
            member("rootfs/first", b"first"),
            member(INDEX_NAME, json.dumps([*index, "made", "made/file", "first"]).encode()),
        ]
    )  # fmt: skip
    # In the import's worker thread: the container swaps, the import waiting meanwhile.
    with (
        trio.fail_after(30),
        before_first_rename("first", partial(trio.from_thread.run, swap_from_inside)) as swapped,
    ):
        response = await client.put("/containers/racer/checkpoint/cp/archive", content=data)
    assert swapped.is_set()
    assert list(host.iterdir()) == []
    assert response.status_code == 400, response.text
    assert "Too many levels of symbolic links: 'made'" in response.json()["error"], response.text


async def test_a_checkpoint_never_goes_through_a_link_swapped_in_for_checkpoints(
    target: Path,
) -> None:
    """The bundle's checkpoints directory swapped for a link to elsewhere (by whoever can
    write into the bundle) as the import moves the checkpoint into place: the rename followed
    the link. Now it goes into the directory reached without a link, wherever that went."""
    elsewhere = target.parent / "elsewhere"
    elsewhere.mkdir()
    (target / "checkpoints").mkdir()

    def swap() -> None:
        (target / "checkpoints").rename(target / "checkpoints.moved")
        (target / "checkpoints").symlink_to(elsewhere)

    with before_first_rename("cp", swap) as swapped:
        await import_archive(feed(archive([manifest(), *images()])), target, name="cp")
    assert swapped.is_set()
    assert list(elsewhere.iterdir()) == []
    assert (target / "checkpoints.moved" / "cp" / "inventory.img").read_bytes() == b"inv"


async def test_a_checkpoint_only_archive_needs_the_bundle(tmp_path: Path) -> None:
    data = archive([manifest(), *images()])
    with pytest.raises(NotFound, match=r"has no config\.json: send the archive with its bundle"):
        await import_archive(feed(data), tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()


async def test_a_full_archive_does_not_overwrite_a_bundle(target: Path) -> None:
    before = tree(target)
    with pytest.raises(Conflict, match="exists already"):
        await import_archive(feed(archive(full_bundle())), target)
    assert tree(target) == before


async def test_setuid_is_kept_only_when_asked(tmp_path: Path) -> None:
    suid = member("rootfs/su", b"x", mode=0o4755)
    result = await import_archive(
        feed(archive([*full_bundle(), suid])), tmp_path / "a", limits=ImportLimits()
    )
    assert stat.S_IMODE(os.stat(result.bundle / "rootfs/su").st_mode) == 0o755
    await import_archive(
        feed(archive([*full_bundle(), suid])), tmp_path / "b",
        limits=ImportLimits(keep_setuid=True),
    )  # fmt: skip
    assert stat.S_IMODE(os.stat(tmp_path / "b/rootfs/su").st_mode) == 0o4755


async def test_gnu_long_names_and_a_cancelled_upload(tmp_path: Path) -> None:
    """GNU-format archives (long names) import; an upload cut off by cancellation (a client
    that hung up) leaves no staging directory."""
    long_name = "rootfs/" + "d" * 150 + "/f"
    data = archive([*full_bundle(), member(long_name, b"x")], fmt=tarfile.GNU_FORMAT)
    await import_archive(feed(data), tmp_path / "gnu")
    assert (tmp_path / "gnu" / long_name).read_bytes() == b"x"

    staged = trio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield data[:2048]  # the manifest: the import makes its staging directory
        staged.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(import_archive, stalls(), tmp_path / "cancelled")
        await staged.wait()
        assert any(p.name.startswith(".cancelled.import-") for p in tmp_path.iterdir())
        nursery.cancel_scope.cancel()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gnu"]


# --- with runc and CRIU -------------------------------------------------------------------------


@pytest.mark.usefixtures("plain_parent")
@pytest.mark.deadline(90)
async def test_a_real_checkpoint_moves_to_another_bundle_path(
    make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Export with the bundle (gzip) from one path, import at another, restore there: the
    counter goes on from where it was."""
    source = make_bundle(COUNTER)
    container = DirectContainer(make_runc(tmp_path / "runc"), "archived", tmp_path / "work")
    try:
        await container.run(source)
        await container.wait_for(b"\n5\n")
        image = checkpoints.reserve(source, "move")
        await container.checkpoint(image, CriuOptions())
        checkpoints.commit(source, checkpoints.new_info("move", CriuOptions()))
        last = int((await container.read_to_end()).split()[-1])

        options = ExportOptions(BundleContent.FULL, compression=Compression.GZIP)
        upload = plan_export(source, "move", options).chunks()
        target = tmp_path / "other-host" / "bundle"
        await import_archive(upload, target, name="move")

        with prepare_restore(target, tmp_path / "plan") as plan:
            await container.restore(
                plan.bundle, checkpoints.image_path(target, "move"), CriuOptions()
            )
        after = await container.wait_for(f"\n{last + 3}\n".encode())
        assert after.split()[0] == str(last + 1).encode()
    finally:
        await container.delete()


# --- through the API --------------------------------------------------------------------------

#: The cases whose refusal does not depend on the small limits of the test above (the route
#: imports with the default ones).
ROUTE_CASES = [
    case
    for case, (_, problem, *_) in HOSTILE.items()
    if "allowed" not in problem and case != "too many entries"
]


@pytest.mark.parametrize("case", ROUTE_CASES)
async def test_a_hostile_archive_through_the_import_route_is_a_400(
    client: httpx.AsyncClient, target: Path, case: str
) -> None:
    """Streamed (chunked) through PUT .../checkpoint/cp/archive: 400 naming the problem, and
    the target's directory as it was."""
    make, problem, *rest = HOSTILE[case]
    data = make()
    full = rest[0] if rest else b'"bundle": "full"' in data[:2048]
    destination = target.parent / "new" / "bundle" if full else target
    assert problem in await _refused_through_route(client, target, destination, data)


async def _refused_through_route(
    client: httpx.AsyncClient, target: Path, destination: Path, data: bytes
) -> str:
    """The error of a PUT of ``data`` to ``destination``: a 400 for the archive, which
    leaves the target's directory as it was."""
    before = tree(target.parent)
    response = await client.put(
        "/containers/any/checkpoint/cp/archive",
        params={"bundlePath": str(destination)},
        content=feed(data),
    )
    assert response.status_code == 400, response.text
    error: str = response.json()["error"]
    assert error.startswith("invalid checkpoint archive: ")
    assert tree(target.parent) == before
    return error


async def test_a_kept_process_more_than_execve_takes_is_refused_at_import(
    client: httpx.AsyncClient, target: Path
) -> None:
    """A checkpoint's ``process.json`` whose args and env no start could have been given on
    any host (600 000 entries, 6.6 MB as execve counts them, past MAX_ARG_SPACE), well
    within the file's bound: a 400 naming it, and nothing left. Before, it came in (after
    seconds of the event loop structuring a list of millions, for one near the bound), to be
    taken for what the restored container ran."""
    kept = json.dumps({"process": {"args": ["sh"], "env": ["a="] * 600_000}}).encode()
    data = archive([manifest(), *images(), member("checkpoints/cp/process.json", kept)])
    error = await _refused_through_route(client, target, target, data)
    assert "checkpoint 'cp' has unreadable process.json: process.args and process.env" in error


async def test_kept_labels_more_than_a_start_holds_are_refused_at_import(
    client: httpx.AsyncClient, target: Path
) -> None:
    """A checkpoint's ``process.json`` with more labels than a start's body holds (a million,
    14 MB, within the file's bound): a 400 naming it, quickly (its number is looked at before
    any label), and nothing left. Before, it came in, after seconds of the event loop checking
    and structuring each label, to be the restored container's labels."""
    labels = {f"k{index:07}": "" for index in range(1_000_000)}
    kept = json.dumps({"process": None, "labels": labels}).encode()
    data = archive([manifest(), *images(), member("checkpoints/cp/process.json", kept)])
    # A bound, not a measure: 14 MB sent and parsed on a busy machine took over 10 s.
    with trio.fail_after(60):
        error = await _refused_through_route(client, target, target, data)
    assert "checkpoint 'cp' has unreadable process.json: labels holds 1000000 labels" in error


async def test_a_kept_label_larger_than_a_start_holds_is_refused_at_import(
    client: httpx.AsyncClient, target: Path
) -> None:
    """One label whose value is past what a start's body holds (2 MiB): a 400 naming the
    label, and nothing left. Before, it came in."""
    kept = json.dumps({"process": None, "labels": {"big": "v" * (2 << 20)}}).encode()
    data = archive([manifest(), *images(), member("checkpoints/cp/process.json", kept)])
    with trio.fail_after(10):
        error = await _refused_through_route(client, target, target, data)
    assert "checkpoint 'cp' has unreadable process.json: labels come to more than" in error
    assert "(at label 'big')" in error


def _archive_refused_late() -> bytes:
    """A checkpoint archive the import refuses after it unpacked a file of 2 MiB: its third
    member is a FIFO."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        manifest = json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "checkpoint": "x",
                "kind": "checkpoint",
                "bundle": "none",
            }
        ).encode()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        big = tarfile.TarInfo("checkpoints/x/pages-1.img")
        big.size = 2 << 20
        tar.addfile(big, io.BytesIO(b"\1" * big.size))
        fifo = tarfile.TarInfo("checkpoints/x/fifo")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    return buffer.getvalue()


async def _refused_upload(daemon: RunningDaemon, target: bytes, body: bytes) -> tuple[bytes, bool]:
    """An upload to ``target`` that the route refuses, whose client
    sends it as fast as the server takes it: the answer, and whether the server closed the
    connection after it (within 10 s)."""
    url = httpx.URL(daemon.url)
    stream = await trio.open_tcp_stream(url.host, url.port or 80)
    total = 64 << 20
    head = b"PUT " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
    answer = bytearray()
    closed = False
    async with trio.open_nursery() as nursery:

        async def upload() -> None:
            with trio.move_on_after(5), contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(head + body)
                sent = len(body)
                while sent < total:
                    await stream.send_all(b"\0" * (1 << 20))
                    sent += 1 << 20

        nursery.start_soon(upload)
        with trio.move_on_after(10):
            while data := await stream.receive_some(65536):
                answer += data
            closed = True
        nursery.cancel_scope.cancel()
    await stream.aclose()
    return bytes(answer), closed


@pytest.mark.deadline(60)
async def test_an_upload_refused_late_ends_its_connection(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """The import refuses the archive (400, Connection: close) while the client still sends:
    the server must then close the connection, and the daemon must be able to stop. The
    answer's end put http.disconnect into the request's full AppQueue from inside
    finish_shielded, while the only reader of that queue (UploadConnection.handle_messages)
    waited in wait_for_room for a handler that would never read again: the app's task waited,
    shielded, for good."""
    (tmp_path / "config.json").write_text("{}")
    target = b"/containers/box/checkpoint/x/archive?bundlePath=" + str(tmp_path).encode()
    answer, closed = await _refused_upload(daemon, target, _archive_refused_late())
    stopped = False
    with trio.move_on_after(15):
        await daemon.stop()
        stopped = True
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert closed, "the server never closed the connection it answered Connection: close"
    assert stopped, "the daemon could not stop: a request's task waits, shielded, for good"


@pytest.mark.usefixtures("plain_parent")
@pytest.mark.deadline(90)
async def test_export_and_import_routes_move_a_checkpoint_between_daemons(
    start_daemon: Any, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """GET .../archive?withBundle=full&compression=gzip from one daemon, streamed as it comes
    into PUT .../archive on another, to a new bundle path; restored there, it counts on."""
    first: RunningDaemon = await start_daemon(tmp_path / "host-a")
    second: RunningDaemon = await start_daemon(tmp_path / "host-b")
    source = make_bundle(COUNTER)
    await start_container(first.client, "mover", source)
    await wait_output(first.client, "mover", "4")
    response = await first.client.post("/containers/mover/checkpoint/move", json={"exit": True})
    assert response.status_code == 201, response.text
    # since is the changes' moment: with another withBundle it was dropped without a word.
    for meant in ({"since": "1h"}, {"since": "1h", "withBundle": "full"}):
        refused = await first.client.get("/containers/mover/checkpoint/move/archive", params=meant)
        assert refused.status_code == 400, refused.text
        assert "give withBundle=changes too, or leave since out" in refused.json()["error"]
    # And the changes without their moment: the 400 named no query parameter to give.
    query = {"withBundle": "changes"}
    refused = await first.client.get("/containers/mover/checkpoint/move/archive", params=query)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "withBundle=changes sends the rootfs changes from a moment: give since too"},
    )
    target = tmp_path / "host-b-bundles" / "mover"
    query = {"withBundle": "full", "compression": "gzip"}
    async with first.client.stream(
        "GET", "/containers/mover/checkpoint/move/archive", params=query
    ) as exported:
        assert exported.status_code == 200
        assert exported.headers["content-type"] == "application/gzip"
        response = await second.client.put(
            "/containers/mover/checkpoint/move/archive",
            params={"bundlePath": str(target)},
            content=exported.aiter_raw(),
        )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["checkpoint"], answer["bundle"], answer["kind"]) == (
        "move",
        "full",
        "checkpoint",
    )
    last = int((await first.client.get("/containers/mover/logs?tail=1")).json()["data"])
    restored = await start_container(second.client, "mover", target, checkpoint="move")
    assert restored["bundlePath"] == str(target)
    await wait_output(second.client, "mover", f"{last + 2}\n")
    again = await second.client.put(
        "/containers/mover/checkpoint/move/archive", params={"bundlePath": str(target)},
        content=b"",
    )  # fmt: skip
    assert again.status_code == 400, again.text


async def test_an_upload_that_stops_coming_is_given_up() -> None:
    """A streamed body waits for each part at most the app's body timeout, then 408s: a client
    that stops sending must not hold the request and its work open for ever."""
    body = StreamedBody(1_000_000, idle_timeout=0.2)
    body.append(b"first part")
    parts = body.chunks()
    assert await anext(parts) == b"first part"
    with trio.fail_after(5), pytest.raises(RequestTimeout, match="no part of the upload came"):
        await anext(parts)
    assert not body.finished


async def test_a_session_aborted_removes_the_bundle_its_checkpoints_archive_made(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A migration's session that took its bundle within its checkpoint's archive (one
    archive, not two) made the bundle as surely: it did not know, so an abort left it (and
    so did the next server, for a session its server lost)."""
    target = tmp_path / "moved" / "box"
    session = await _session_with_its_bundle(client, tmp_path, target)
    assert (target / "config.json").is_file() and (target / "checkpoints" / "cp").is_dir()
    assert (await client.delete(f"/migrations/{session}")).status_code == 200
    assert not target.exists()


async def _session_with_its_bundle(client: httpx.AsyncClient, tmp_path: Path, target: Path) -> str:
    """A migration's session opened at ``target``, which has taken the bundle and its
    checkpoint ``cp`` in one archive; its id."""
    source = make_source(tmp_path)
    archive = await collect(plan_export(source, "cp", ExportOptions(BundleContent.FULL)).chunks())
    answer = await client.post(
        "/migrations",
        json={"id": "box", "bundlePath": str(target), "checkpoint": "cp", "withBundle": True},
    )
    assert answer.status_code == 201, answer.text
    session: str = answer.json()["id"]
    answer = await client.put(f"/migrations/{session}/archive", content=archive)
    assert answer.status_code == 201, answer.text
    return session


async def test_a_session_aborted_puts_back_the_empty_directory_its_bundle_took(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A user who made the target's bundle directory, empty, for a migration finds it again
    after an abort, as it was: the bundle's move replaced it, and the abort took the path
    away with the bundle."""
    target = tmp_path / "moved" / "box"
    target.mkdir(parents=True, mode=0o750)
    os.chown(target, 1234, 4321)
    session = await _session_with_its_bundle(client, tmp_path, target)
    assert (target / "config.json").is_file()
    assert (await client.delete(f"/migrations/{session}")).status_code == 200
    assert os.listdir(target) == []
    found = os.lstat(target)
    assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (0o750, 1234, 4321)


@pytest.mark.parametrize("ended_by", ["delete", "idle"])
async def test_a_session_aborted_keeps_the_bundle_a_container_here_runs_from(
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ended_by: str,
) -> None:
    """The next server's clearing keeps a session's bundle that a container here uses; so
    must an abort, by DELETE /migrations/{m} or by the idle reaper: it removed the bundle
    from under another container that runs from it."""
    from containerd_trio.migration import incoming

    target = tmp_path / "moved" / "b"
    response = await client.post(
        "/migrations",
        json={"id": "x", "bundlePath": str(target), "checkpoint": "cp-x", "withBundle": True},
    )
    assert response.status_code == 201, response.text
    session = response.json()["id"]
    export = plan_export(make_bundle(), None, ExportOptions(bundle=BundleContent.FULL))
    response = await client.put(
        f"/migrations/{session}/archive",
        content=await collect(export.chunks()),
        headers={"content-type": export.media_type},
    )
    assert response.status_code == 201, response.text
    await start_container(client, "other", target)  # another container, from that bundle
    if ended_by == "delete":
        assert (await client.delete(f"/migrations/{session}")).status_code == 200
    else:
        aborted = trio.Event()
        abort = incoming.Incoming._abort

        async def abort_and_say(self: incoming.Incoming, ended: incoming.Session) -> None:
            await abort(self, ended)
            aborted.set()

        monkeypatch.setattr(incoming.Incoming, "_abort", abort_and_say)
        monkeypatch.setattr(incoming, "IDLE_SECONDS", 0.0)  # idle from now on
        with trio.fail_after(10):
            await aborted.wait()
        assert (await client.delete(f"/migrations/{session}")).status_code == 404  # ended
    assert (await client.get("/containers/other")).json()["state"]["status"] == "running"
    assert (target / "rootfs" / "bin" / "busybox").exists(), "the running container's rootfs"


@pytest.mark.parametrize("with_bundle", [True, False])
async def test_a_session_records_what_it_moves_into_place_before_the_move(
    tmp_path: Path, with_bundle: bool
) -> None:
    """The record a migration's session writes before its archive is moved into place names
    the directory that is moved by the identity it keeps (the next server's means to tell
    the session's from another's at that path, had this one died in between); the record
    after it says what the session made, and names nothing moving."""
    from containerd_trio.migration.incoming import Incoming
    from containerd_trio.migration.ledger import SessionEntry, SessionLedger

    class Ledger(SessionLedger):
        def __init__(self, directory: Path) -> None:
            super().__init__(directory)
            self.written: list[SessionEntry] = []

        def write(self, entry: SessionEntry) -> None:
            self.written.append(entry)
            super().write(entry)

    source = make_source(tmp_path)
    content = BundleContent.FULL if with_bundle else BundleContent.NONE
    archive = await collect(plan_export(source, "cp", ExportOptions(content)).chunks())
    target = tmp_path / "moved" / "box"
    if not with_bundle:
        (target / "rootfs").mkdir(parents=True)
        (target / "config.json").write_bytes((source / "config.json").read_bytes())
    ledger = Ledger(tmp_path / "migrations")
    incoming = Incoming(TargetHost(set(), set()), ledger)
    session = incoming.open("box", str(target), "cp", with_bundle=with_bundle)
    await incoming.receive(session.id, feed(archive))

    moved = target if with_bundle else target / "checkpoints" / "cp"
    found = os.lstat(moved)
    before, after = ledger.written[-2:]
    assert [(p.destination, p.device, p.inode) for p in before.placing] == [
        (moved, found.st_dev, found.st_ino)
    ]
    assert not before.made_bundle and before.imported == []
    assert after.placing == [] and after.made_bundle is with_bundle
    assert after.imported == ["cp"]


async def test_a_turn_of_the_writer_reads_a_bounded_part_of_a_file_that_compresses_away(
    tmp_path: Path,
) -> None:
    """A chunk of the archive is made in one worker thread's turn, which a cancelled export
    waits for: 64 MiB of zeros compress to a few hundred KiB at gzip's level 1, and the
    whole file was read in one turn, to make one chunk. A turn reads MAX_READ_PER_TURN at most."""
    size = 64 << 20
    with (tmp_path / "zeros").open("wb") as zeros:
        zeros.truncate(size)  # sparse: reading it costs no disk
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        info = os.lstat(tmp_path / "zeros")
        member = export.Member("zeros", at=(directory, "zeros"), info=info)
        writer = export.TarWriter(Compression.GZIP)
        with trio.fail_after(60):
            chunks = [chunk async for chunk in writer.chunks(iter([member]))]
    finally:
        os.close(directory)
    assert len(chunks) >= size // export.MAX_READ_PER_TURN
    assert all(chunks)  # no empty chunk: a turn whose reads compressed to nothing yet is kept
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:gz") as archive:
        extracted = archive.extractfile("zeros")
        assert extracted is not None
        assert extracted.read() == bytes(size)
