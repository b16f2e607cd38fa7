"""``docker cp``: GET, HEAD and PUT /containers/{id}/archive, and ``ctr-trio cp``.

Real runc containers through a real daemon: paths are resolved as the container sees them
(its init's root while it runs: a tmpfs it mounts shows; its bundle's rootfs once stopped),
links only inside that root, both ways. The pure parts (the resolver's fallback, the sides and
placements of ``cp``, the stat header, mountinfo) are tested alone first.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import beneath, procfs
from containerd_trio.archive import idmap, paths
from containerd_trio.archive.paths import QUEUED_ENTRIES, go_mode, pseudo_devices
from containerd_trio.archive.tarstream import CHUNK, ArchiveError, TarReader
from containerd_trio.client import cli, pathstat
from containerd_trio.client.copying import (
    TERMINAL_REFUSED,
    CopyError,
    Placement,
    Side,
    _renamed,
    placement,
    side,
)
from containerd_trio.errors import Conflict, InvalidRequest
from containerd_trio.model import Status

from .fusehang import bound_at, flush_held_mount, hung_mount, stat_held_mount
from .helpers import BundleFactory, RunningDaemon, now, start_container, wait_exit, wait_output
from .test_cli import Ctr, ctr, ok  # noqa: F401 - ctr: the fixture

HOST_HOSTNAME = Path("/etc/hostname")

# --- the resolver in a root ---------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[int]:
    """A root with links in it: absolute, relative, climbing past the root, to a file."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("inside\n")
    (root / "a" / "b").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")
    (root / "rel").symlink_to("a/b/../../etc")
    (root / "a" / "b" / "up").symlink_to("../../../../../../etc")
    (root / "file").symlink_to("/etc/hostname")
    (root / "loop").symlink_to("loop")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


IN_ROOT_CASES = [
    "etc/hostname", "/etc/hostname", "abs/hostname", "/abs/hostname", "rel/hostname",
    "a/b/up/hostname", "file", "/file", "../../etc/hostname", "a/../../etc/hostname",
    "abs/../etc/hostname",
]  # fmt: skip


@pytest.mark.parametrize("path", IN_ROOT_CASES)
@pytest.mark.parametrize("opener", [beneath.open_in_root, beneath.walk_in_root])
def test_a_path_in_a_root_never_leaves_it(tree: int, path: str, opener: Any) -> None:
    """Every way out (an absolute link, .., a link that climbs) stops at the root: the file
    read is the root's /etc/hostname, never the host's."""
    fd = opener(tree, path, os.O_RDONLY)
    with open(fd, "rb") as opened:
        assert opened.read() == b"inside\n"


@pytest.mark.parametrize(
    "path",
    ["/", ".", "..", "a/b/..", "a/b/../../..", "top", "top/", "top/etc", "abs/../top/a/b",
     "abs/..", "abs/", "abs/.", "dir-link", "dir-link/"],
)  # fmt: skip
def test_the_fallback_reaches_the_directory_the_kernel_does(tree: int, path: str) -> None:
    """Directories reached by ``..``, by a link to ``/`` (last or on the way) or by nothing
    at all: the fallback's walk ends on the inode openat2's RESOLVE_IN_ROOT ends on. A path
    that ends in ``/`` or ``/.`` (or a link in the last place whose target does) names a
    directory: the link there is followed, even with O_NOFOLLOW, as the kernel follows it."""
    os.symlink("/", "top", dir_fd=tree)
    os.symlink("abs/", "dir-link", dir_fd=tree)
    reached = []
    for opener in (beneath.open_in_root, beneath.walk_in_root):
        fd = opener(tree, path, os.O_PATH | os.O_NOFOLLOW)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        reached.append((info.st_dev, info.st_ino))
    assert reached[0] == reached[1], path


@pytest.mark.parametrize("opener", [beneath.open_in_root, beneath.walk_in_root])
def test_the_resolver_in_a_root_and_its_fallback_agree_on_failures(tree: int, opener: Any) -> None:
    os.symlink("etc/hostname/", "file-slash", dir_fd=tree)  # a directory, as its target says
    for path, code in (("nope", errno.ENOENT), ("loop", errno.ELOOP), ("etc/hostname/x",
                       errno.ENOTDIR), ("file/", errno.ENOTDIR), ("etc/hostname/.",
                       errno.ENOTDIR), ("file-slash", errno.ENOTDIR)):  # fmt: skip
        with pytest.raises(OSError, match=os.strerror(code)) as raised:
            opener(tree, path, os.O_RDONLY)
        assert raised.value.errno == code, path
    # O_NOFOLLOW leaves the last link unfollowed: with O_PATH, the link itself.
    fd = opener(tree, "file", os.O_PATH | os.O_NOFOLLOW)
    try:
        assert stat.S_ISLNK(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    with pytest.raises(OSError, match=os.strerror(errno.ELOOP)) as raised:
        opener(tree, "file", os.O_RDONLY | os.O_NOFOLLOW)
    assert raised.value.errno == errno.ELOOP


# --- the pure parts -----------------------------------------------------------------------------


def test_sides_of_cp_are_read_as_docker_reads_them() -> None:
    assert side("web:/etc") == Side("web", "/etc")
    assert side("web:relative") == Side("web", "/relative")
    assert side("/abs:olute") == Side(None, "/abs:olute")
    assert side("./a:b") == Side(None, "./a:b")
    assert side("plain") == Side(None, "plain")
    assert side("-") == Side(None, "-")


def test_placement_follows_docker_rules() -> None:
    # Into a directory that is there: the archive's own names.
    assert placement("/etc", True, "out", True, True) == Placement("out", None)
    assert placement("/etc/.", True, "out", True, True) == Placement("out", None)
    # Not there: the destination's name, in its directory.
    assert placement("/etc", True, "out/new", False, False) == Placement("out", "new")
    assert placement("/etc/passwd", False, "/tmp/pw", False, False) == Placement("/tmp", "pw")
    assert placement("/etc/passwd", False, "pw", False, False) == Placement(".", "pw")
    # A file onto a file.
    assert placement("/etc/passwd", False, "/x/f", True, False) == Placement("/x", "f")
    with pytest.raises(CopyError, match="cannot copy a directory to a file"):
        placement("/etc", True, "/x/f", True, False)
    with pytest.raises(CopyError, match="does not exist"):
        placement("/etc/passwd", False, "/x/new/", False, False)


def test_renaming_replaces_the_first_component() -> None:
    assert _renamed("etc/passwd", "x") == "x/passwd"
    assert _renamed("etc", "x") == "x"
    assert _renamed("etc/", "x") == "x"
    assert _renamed("./passwd", "x") == "x/passwd"
    assert _renamed(".", "x") == "x"
    assert _renamed("etc/passwd", None) == "etc/passwd"


def test_modes_are_gos() -> None:
    assert go_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_mode(stat.S_IFDIR | 0o755) == pathstat.GO_DIR | 0o755
    assert go_mode(stat.S_IFLNK | 0o777) == pathstat.GO_SYMLINK | 0o777
    assert go_mode(stat.S_IFREG | 0o4755) == pathstat.GO_SETUID | 0o755
    assert go_mode(stat.S_IFCHR | 0o666) == pathstat.GO_DEVICE | pathstat.GO_CHAR_DEVICE | 0o666
    assert go_mode(stat.S_IFIFO | 0o600) == pathstat.GO_NAMED_PIPE | 0o600


def test_the_stat_header_is_base64_of_json() -> None:
    document = {"name": "x", "size": 1, "mode": 0o644, "mtime": "t", "linkTarget": ""}
    assert pathstat.decode(pathstat.encode(document)) == document
    for bad in ("not base64!", "bnVsbA==", "e30="):  # garbage, null, {}
        with pytest.raises(ValueError, match="X-Docker-Container-Path-Stat"):
            pathstat.decode(bad)


def test_pseudo_filesystems_are_found_in_mountinfo() -> None:
    mountinfo = (
        b"1 0 253:1 / / rw - ext4 /dev/vda1 rw\n"
        b"2 1 0:22 / /proc rw,nosuid - proc proc rw\n"
        b"3 1 0:23 / /sys ro - sysfs sysfs ro\n"
        b"4 1 0:40 / /tmp rw shared:5 - tmpfs tmpfs rw\n"
        b"5 3 0:30 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
        b"garbage\n"
    )
    assert pseudo_devices(mountinfo) == {os.makedev(0, 22), os.makedev(0, 23), os.makedev(0, 30)}
    # Every mount point below the root, the rootfs (/) none of them.
    assert paths.mount_points(mountinfo) == {"/proc", "/sys", "/tmp", "/sys/fs/cgroup"}


def test_mount_points_are_read_as_the_kernel_escapes_them() -> None:
    mountinfo = (
        b"1 0 253:1 /bundle/rootfs / rw - ext4 /dev/vda1 rw\n"
        b"2 1 253:1 /host/a\\040dir /with\\040space rw - ext4 /dev/vda1 rw\n"
        b"3 1 253:1 /x /back\\134slash rw - ext4 /dev/vda1 rw\n"
    )
    assert paths.mount_points(mountinfo) == {"/with space", "/back\\slash"}


# --- through the daemon -------------------------------------------------------------------------


READY = "cp-ready"


def _container_files(config: dict[str, Any]) -> None:
    """A tmpfs at /scratch, which only the container's mount namespace has."""
    config["mounts"].append(
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
    )


@pytest.fixture
def files_bundle(make_bundle: BundleFactory) -> Path:
    """A container whose rootfs holds files, a tree and links (one to /etc/hostname, one to
    /etc, one that climbs), and which writes a file into its tmpfs before it says ready."""
    bundle = make_bundle(
        ["sh", "-c", f"echo in-tmpfs > /scratch/note; echo {READY}; exec sleep 100000"],
        edit=_container_files,
    )
    rootfs = bundle / "rootfs"
    (rootfs / "etc" / "hostname").write_text("the-container\n")
    tree = rootfs / "data" / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf").write_text("leaf\n")
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o750)
    (tree / "link").symlink_to("sub/leaf")
    (rootfs / "data" / "hostname-link").symlink_to("/etc/hostname")
    (rootfs / "data" / "etc-link").symlink_to("/etc")
    (rootfs / "data" / "climb").symlink_to("../../../../../../../etc")
    return bundle


async def _running(client: httpx.AsyncClient, container_id: str, bundle: Path) -> None:
    await start_container(client, container_id, bundle)
    await wait_output(client, container_id, READY)


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {member.name: member for member in archive.getmembers()}


def _content(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _file(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.uid = info.gid = 1234
    info.mtime = 1_700_000_000
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o755
    return info, b""


async def _get(client: httpx.AsyncClient, container_id: str, path: str) -> httpx.Response:
    return await client.get(f"/containers/{container_id}/archive", params={"path": path})


async def _put(
    client: httpx.AsyncClient, container_id: str, path: str, data: bytes, **params: str
) -> httpx.Response:
    return await client.put(
        f"/containers/{container_id}/archive", params={"path": path, **params}, content=data
    )


async def test_a_file_and_a_directory_come_out_as_the_container_has_them(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    await _running(client, "cpout", files_bundle)
    answer = await _get(client, "cpout", "/data/tree/run.sh")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/x-tar"
    described = pathstat.decode(answer.headers[pathstat.STAT_HEADER])
    assert described["name"] == "run.sh" and described["size"] == 10
    assert described["mode"] == 0o750 and described["linkTarget"] == ""
    members = _members(answer.content)
    assert list(members) == ["run.sh"]
    assert members["run.sh"].mode == 0o750
    assert _content(answer.content, "run.sh") == b"#!/bin/sh\n"

    answer = await _get(client, "cpout", "/data/tree")
    assert answer.status_code == 200, answer.text
    assert pathstat.is_dir(pathstat.decode(answer.headers[pathstat.STAT_HEADER]))
    members = _members(answer.content)
    assert sorted(members) == ["tree", "tree/link", "tree/run.sh", "tree/sub", "tree/sub/leaf"]
    assert members["tree/link"].issym() and members["tree/link"].linkname == "sub/leaf"
    assert _content(answer.content, "tree/sub/leaf") == b"leaf\n"

    # HEAD: the same header, no body.
    head = await client.head("/containers/cpout/archive", params={"path": "/data/tree"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers[pathstat.STAT_HEADER] == answer.headers[pathstat.STAT_HEADER]

    # "/." sends the directory's contents, named from "."
    answer = await _get(client, "cpout", "/data/tree/.")
    assert sorted(_members(answer.content)) == [".", "./link", "./run.sh", "./sub", "./sub/leaf"]


async def test_links_out_resolve_inside_the_container(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """A link to /etc/hostname, through /etc, or climbing with .. past /: always the
    container's /etc/hostname, never the host's."""
    assert HOST_HOSTNAME.read_text() != "the-container\n"
    await _running(client, "cplinks", files_bundle)
    # The link itself goes as a link, and its stat says where it points.
    answer = await _get(client, "cplinks", "/data/hostname-link")
    described = pathstat.decode(answer.headers[pathstat.STAT_HEADER])
    assert pathstat.is_link(described) and described["linkTarget"] == "/etc/hostname"
    assert _members(answer.content)["hostname-link"].linkname == "/etc/hostname"
    for path in ("/data/etc-link/hostname", "/data/climb/hostname", "/../../etc/hostname"):
        answer = await _get(client, "cplinks", path)
        assert answer.status_code == 200, (path, answer.text)
        assert _content(answer.content, "hostname") == b"the-container\n", path
    # A link with a "/" after it names the directory it leads to, as the kernel and docker's
    # daemon read it: that directory goes, named as asked (docker's rebase), a directory in
    # the stat. A link to a file so named is no directory.
    for path in ("/data/etc-link/", "/data/climb/"):
        answer = await _get(client, "cplinks", path)
        assert answer.status_code == 200, (path, answer.text)
        name = path.rstrip("/").rsplit("/", 1)[-1]
        described = pathstat.decode(answer.headers[pathstat.STAT_HEADER])
        assert described["name"] == name and described["linkTarget"] == "", described
        assert pathstat.is_dir(described), described
        assert _members(answer.content)[name].isdir()
        assert _content(answer.content, f"{name}/hostname") == b"the-container\n", path
    answer = await _get(client, "cplinks", "/data/hostname-link/")
    assert answer.status_code == 400 and "is not a directory" in answer.json()["error"]
    # A magic link (its /proc's root of a process, which could be any) is not followed, and
    # the refusal names it (was the kernel's "Too many levels of symbolic links"); so is
    # /proc/self, which names its reader and which the daemon cannot read (was a 404 "no such
    # file or directory", as if the container had no /etc/hostname). Both ways of a copy.
    magic = "a magic link of the container's procfs"
    reader = "a link of the container's procfs that names its reader"
    cases = [
        ("/proc/1/root/etc/hostname", "'/proc/1/root'", magic),
        ("/proc/1/root/", "'/proc/1/root'", magic),
        ("/proc/1/cwd/etc", "'/proc/1/cwd'", magic),
        ("/proc/self/root/etc/hostname", "'/proc/self'", reader),
        ("/proc/thread-self/root/etc", "'/proc/thread-self'", reader),
        ("/proc/net/dev", "'/proc/self' (which '/proc/net' leads through)", reader),
    ]
    for path, link, kind in cases:
        for method in ("GET", "PUT"):
            answer = await client.request(
                method, "/containers/cplinks/archive", params={"path": path},
                content=_tar(_file("f")) if method == "PUT" else None,
            )  # fmt: skip
            assert answer.status_code == 400, (method, path, answer.text)
            assert answer.json()["error"].startswith(
                f"cannot reach {path!r} in container 'cplinks': it goes through {link}, {kind}"
            ), (method, answer.json())
    # The link itself goes as a link, as any other; what is not there past a plain directory
    # of procfs is a 404 still.
    answer = await _get(client, "cplinks", "/proc/1/root")
    assert answer.status_code == 200, answer.text
    assert _members(answer.content)["root"].issym()
    assert (await _get(client, "cplinks", "/proc/1/nope")).status_code == 404


async def test_a_tmpfs_of_the_container_shows_through_its_root(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """/proc/PID/root: the file the container wrote into its own tmpfs, which the bundle's
    rootfs does not have; and / goes without entering /proc or /sys."""
    await _running(client, "cptmpfs", files_bundle)
    assert not (files_bundle / "rootfs" / "scratch" / "note").exists()
    answer = await _get(client, "cptmpfs", "/scratch/note")
    assert answer.status_code == 200, answer.text
    assert _content(answer.content, "note") == b"in-tmpfs\n"
    names = _members((await _get(client, "cptmpfs", "/")).content)
    assert "./scratch/note" in names and "./proc" in names and "./sys" in names
    assert not [name for name in names if name.startswith(("./proc/", "./sys/"))]


async def test_a_stopped_container_is_read_and_written_in_its_rootfs(
    client: httpx.AsyncClient, files_bundle: Path, make_bundle: BundleFactory
) -> None:
    since = now()
    started = await start_container(client, "cpstopped", make_bundle(["true"]))
    await wait_exit(client, "cpstopped", started["processes"][0]["pid"], since)
    answer = await _get(client, "cpstopped", "/bin")
    assert answer.status_code == 200, answer.text
    assert "bin/busybox" in _members(answer.content)
    written = await _put(client, "cpstopped", "/", _tar(_file("hello", b"hi\n")))
    assert written.status_code == 200, written.text
    assert written.json()["entries"] == 1 and written.json()["bytes"] == 3
    rootfs = Path(started["bundlePath"]) / "rootfs"
    assert (rootfs / "hello").read_bytes() == b"hi\n"


async def test_an_init_that_ends_before_the_stream_has_its_rootfs_read(
    daemon: RunningDaemon, make_bundle: BundleFactory
) -> None:
    """A copy out looks twice: for its stat (a 409 if the init has ended then) and, once its
    200 went, for its stream. An init that ended between the two, its exit not yet seen by
    the daemon, made the stream's look a Conflict after the 200: the body was cut (curl and
    httpx: an incomplete chunked read) and the daemon logged a traceback. The stream reads
    the stopped container's rootfs now, as a copy asked a moment later does. The two looks
    are driven here through the supervisor, the exit let come between them with the daemon
    held (nothing awaited: it cannot see the exit meanwhile)."""
    client = daemon.client
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    with trio.fail_after(30):
        since = now()
        started = await start_container(client, "ends", make_bundle())
        pid = started["processes"][0]["pid"]
        found = await supervisor.copy_out("ends", "/etc/passwd")
        pidfd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            # Readable once it has exited; a blocking wait keeps the daemon from its turn.
            assert select.select([pidfd], [], [], 10)[0] == [pidfd]
        finally:
            os.close(pidfd)
        assert supervisor.container("ends").status is Status.RUNNING  # its exit not seen
        archive = b"".join([chunk async for chunk in found.chunks()])
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile("passwd")
            assert member is not None
            copied = member.read()
        rootfs = Path(started["bundlePath"]) / "rootfs"
        assert copied == (rootfs / "etc" / "passwd").read_bytes()
        assert await wait_exit(client, "ends", pid, since) == 137
    await client.delete("/containers/ends", params={"timeout": 0})


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
async def test_a_container_deleted_before_the_stream_has_its_answer_cut_quietly(
    daemon: RunningDaemon,
    make_bundle: BundleFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stopped: bool,
) -> None:
    """A copy out looks twice: for its stat, then, once its 200 went, for its stream. A
    DELETE between the two made the stream's look a 404 (NotFound) after the 200, which can
    no longer be said: the body was cut, as HTTP lets it be, but the daemon logged an "Error
    in ASGI Framework" traceback, as for a fault of its own. It logs one warning naming the
    request now, and closes the connection before the body's end. The stream is held here
    until the DELETE has answered (a running container's /proc/PID/root is gone then; a
    stopped one's rootfs is not, but it is no longer the container's)."""
    client = daemon.client
    supervisor = daemon.daemon.supervisor
    assert supervisor is not None
    deleted = trio.Event()
    copy_out = supervisor.copy_out

    async def held_copy_out(
        container_id: str, path: str, *, exclude_mounts: bool = False
    ) -> paths.CopyOut:
        found = await copy_out(container_id, path, exclude_mounts=exclude_mounts)
        stream = found.chunks

        async def chunks() -> AsyncIterator[bytes]:
            await deleted.wait()  # the 200 went: the stream's look comes after the DELETE
            async for chunk in stream():
                yield chunk

        monkeypatch.setattr(found, "chunks", chunks)
        return found

    monkeypatch.setattr(supervisor, "copy_out", held_copy_out)
    caplog.set_level(logging.INFO)
    with trio.fail_after(30):
        since = now()
        started = await start_container(client, "gone", make_bundle())
        if stopped:
            pid = started["processes"][0]["pid"]
            killed = await client.patch("/containers/gone", json={"signal": 9})
            assert killed.status_code == 200, killed.text
            assert await wait_exit(client, "gone", pid, since) == 137
        query = {"path": "/etc/passwd"}
        async with client.stream("GET", "/containers/gone/archive", params=query) as answer:
            assert answer.status_code == 200
            gone = await client.delete("/containers/gone", params={"timeout": 0})
            assert gone.status_code == 200, gone.text
            deleted.set()
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                await answer.aread()
        assert (await client.get("/containers/gone")).status_code == 404
    assert not [r for r in caplog.records if r.exc_info], "a traceback went to the log"
    assert "Error in ASGI Framework" not in caplog.text
    [cut] = [r for r in caplog.records if "cut after" in r.getMessage()]
    assert cut.levelno == logging.WARNING
    assert cut.getMessage() == (
        "GET /containers/gone/archive?path=/etc/passwd: its answer cut after its 200:"
        " container 'gone' not found"
    )


async def test_a_paused_container_is_read_too(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    await _running(client, "cppaused", files_bundle)
    paused = await client.patch("/containers/cppaused", json={"status": "paused"})
    assert paused.status_code == 200, paused.text
    answer = await _get(client, "cppaused", "/scratch/note")
    assert _content(answer.content, "note") == b"in-tmpfs\n"


async def test_a_copy_in_lands_as_the_archive_says(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    await _running(client, "cpin", files_bundle)
    data = _tar(
        _special("./", tarfile.DIRTYPE),
        _special("new", tarfile.DIRTYPE),
        _file("new/file", b"content\n", 0o4755),
        _special("new/link", tarfile.SYMTYPE, "/etc/hostname"),
        _special("new/hard", tarfile.LNKTYPE, "new/file"),
        _file("implicit/dirs/made", b"x"),
    )
    answer = await _put(client, "cpin", "/scratch", data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["entries"] == 6
    # In the tmpfs (the container's own), read back through the API.
    out = (await _get(client, "cpin", "/scratch/new")).content
    members = _members(out)
    # Owned by the container's root, setuid dropped (as an import drops it).
    assert (members["new/file"].mode, members["new/file"].uid) == (0o755, 0)
    assert members["new/link"].linkname == "/etc/hostname"
    assert members["new/hard"].islnk() and members["new/hard"].linkname == "new/file"
    assert _content((await _get(client, "cpin", "/scratch/implicit/dirs/made")).content,
                    "made") == b"x"  # fmt: skip
    # copyOwner keeps the archive's owners; a file there is replaced.
    answer = await _put(client, "cpin", "/scratch", _tar(_file("new/file", b"v2")),
                        copyOwner="true")  # fmt: skip
    assert answer.status_code == 200, answer.text
    member = _members((await _get(client, "cpin", "/scratch/new/file")).content)["file"]
    assert (member.uid, member.size) == (1234, 2)


async def test_the_directories_a_copy_in_makes_are_0755_whatever_the_umask(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """The directories an archive leaves out are made 0755, as docker's (api.md says so): under
    the daemon's umask, 077 (its ``main``'s), mkdir's 0755 made them 0700, and a container's
    non-root user could not reach what the copy put there."""
    await _running(client, "cpumask", files_bundle)
    previous = os.umask(0o077)  # the daemon's own (this one runs in the test's process)
    try:
        answer = await _put(client, "cpumask", "/scratch", _tar(_file("implied/dirs/f", b"x")))
    finally:
        os.umask(previous)
    assert answer.status_code == 200, answer.text
    made = _members((await _get(client, "cpumask", "/scratch/implied")).content)
    assert [(made[name].mode, made[name].uid) for name in ("implied", "implied/dirs")] == [
        (0o755, 0),
        (0o755, 0),
    ]


async def test_many_entries_land_in_order_up_to_the_first_that_breaks_a_rule(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """Small entries are made many to a worker thread's turn (QUEUED_ENTRIES): a copy of 300
    comes out whole, and a bad entry past the first turn (one the daemon refuses as it reads
    it, or one that cannot be made there) leaves all before it made, none after it."""
    await _running(client, "cpmany", files_bundle)
    rootfs = files_bundle / "rootfs"
    count = 300
    assert count > 2 * QUEUED_ENTRIES
    files = [_file(f"many/f{n:03}", f"{n}\n".encode()) for n in range(count)]
    answer = await _put(client, "cpmany", "/data", _tar(*files))
    assert answer.status_code == 200, answer.text
    assert answer.json()["entries"] == count
    members = _members((await _get(client, "cpmany", "/data/many")).content)
    assert sorted(members) == ["many", *(f"many/f{n:03}" for n in range(count))]
    assert _content((await _get(client, "cpmany", "/data/many/f299")).content, "f299") == b"299\n"

    bad = QUEUED_ENTRIES + 72
    for entry, words in (
        (_file("../escape", b"z"), "climbs out with '..'"),  # refused as it is read
        (_file("tree", b"x"), "cannot overwrite the directory"),  # refused as it is made
    ):
        shutil.rmtree(rootfs / "data" / "many")
        archive = _tar(*files[:bad], entry, *files[bad:])
        answer = await _put(client, "cpmany", "/data", archive)
        assert answer.status_code == 400, answer.text
        assert words in answer.json()["error"], answer.json()
        made = sorted(path.name for path in (rootfs / "data" / "many").iterdir())
        assert made == [f"f{n:03}" for n in range(bad)]
        assert (rootfs / "data" / "many" / f"f{bad - 1:03}").read_bytes() == f"{bad - 1}\n".encode()
    assert (rootfs / "data" / "tree").is_dir()


PLANTED = "ctr-trio-cp-test-escape"


@pytest.fixture
def nothing_planted() -> Iterator[None]:
    """Whatever a broken copy wrote into the host's /etc goes once the test has seen it (the
    test fails then): a failing run leaves the host as it was."""
    yield
    for name in (PLANTED, PLANTED + "2"):
        (Path("/etc") / name).unlink(missing_ok=True)


async def test_a_copy_in_never_leaves_the_container(
    client: httpx.AsyncClient, files_bundle: Path, nothing_planted: None
) -> None:
    """An entry through a link to / lands in the container's root; .., an absolute name, a
    device node, a hard link to what the archive did not make: 400, nothing of them made."""
    await _running(client, "cpesc", files_bundle)
    rootfs = files_bundle / "rootfs"
    made = await _put(client, "cpesc", "/data", _tar(_special("root", tarfile.SYMTYPE, "/")))
    assert made.status_code == 200, made.text
    planted = PLANTED
    answer = await _put(client, "cpesc", "/data", _tar(_file(f"root/etc/{planted}", b"x")))
    assert answer.status_code == 200, answer.text
    assert (rootfs / "etc" / planted).read_bytes() == b"x"
    assert not (Path("/etc") / planted).exists()
    # The same through the container's climbing link.
    answer = await _put(client, "cpesc", "/data/climb", _tar(_file(planted + "2", b"y")))
    assert answer.status_code == 200, answer.text
    assert (rootfs / "etc" / (planted + "2")).read_bytes() == b"y"
    assert not (Path("/etc") / (planted + "2")).exists()

    refused = {
        "../escape": "climbs out with '..'",
        "a/../../escape": "climbs out with '..'",
    }
    for name, words in refused.items():
        answer = await _put(client, "cpesc", "/data", _tar(_file(name, b"z")))
        assert answer.status_code == 400, name
        assert words in answer.json()["error"], answer.json()
    absolute = tarfile.TarInfo("/escape")
    answer = await _put(client, "cpesc", "/data", _tar((absolute, b"")))
    assert answer.status_code == 400 and "absolute" in answer.json()["error"]
    device = _special("dev-null", tarfile.CHRTYPE)
    device[0].devmajor, device[0].devminor = 1, 3
    answer = await _put(client, "cpesc", "/data", _tar(device))
    assert answer.status_code == 400, answer.text
    assert "no device nodes" in answer.json()["error"]
    # Nothing goes into the kernel's file systems (a directory in a cgroup file system would
    # be a cgroup), directly or through a link.
    await _put(client, "cpesc", "/data", _tar(_special("sys", tarfile.SYMTYPE, "/sys")))
    for path, name in (("/sys/fs", "made-by-cp"), ("/data", "sys/fs/made-by-cp")):
        answer = await _put(client, "cpesc", path, _tar(_special(name, tarfile.DIRTYPE)))
        assert answer.status_code == 400, answer.text
        assert "kernel's file systems" in answer.json()["error"]
    answer = await _put(
        client, "cpesc", "/data", _tar(_special("h", tarfile.LNKTYPE, "etc/passwd"))
    )
    assert answer.status_code == 400 and "must name a file this archive made" in answer.text
    for name in ("escape", "dev-null", "h"):
        assert not (rootfs / "data" / name).exists()
    assert not (rootfs.parent / "escape").exists()


async def test_wrong_paths_are_404_and_400(client: httpx.AsyncClient, files_bundle: Path) -> None:
    await _running(client, "cpbad", files_bundle)
    cases = [
        ("GET", "cpbad", {"path": "/nope"}, 404, "no such file or directory"),
        ("GET", "cpbad", {"path": "/data/tree/run.sh/"}, 400, "is not a directory"),
        # A link the daemon cannot read (it names its reader's process, and the daemon is
        # not in the container's pid namespace): was a 200 with an empty archive.
        ("GET", "cpbad", {"path": "/proc/self"}, 400, "cannot read the link '/proc/self'"),
        ("GET", "cpbad", {"path": "etc"}, 400, "must be an absolute path"),
        ("GET", "cpbad", {}, 400, "query parameter path is required"),
        ("GET", "cpbad", {"path": "/etc", "x": "1"}, 400, "unknown query parameter 'x'"),
        ("GET", "ghost", {"path": "/etc"}, 404, "container 'ghost' not found"),
        ("PUT", "cpbad", {"path": "/nope"}, 404, "no such file or directory"),
        ("PUT", "cpbad", {"path": "/data/tree/run.sh"}, 400, "is not a directory"),
        ("PUT", "cpbad", {"path": "/data", "copyOwner": "maybe"}, 400, "copyOwner"),
    ]
    for method, container_id, params, status, words in cases:
        answer = await client.request(
            method, f"/containers/{container_id}/archive", params=params,
            content=_tar(_file("f")) if method == "PUT" else None,
        )  # fmt: skip
        assert answer.status_code == status, (method, params, answer.text)
        assert words in answer.json()["error"], (params, answer.json())
    # No body (curl -XPUT without --data-binary): it says so, not that a tar was cut short.
    answer = await _put(client, "cpbad", "/data", b"")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        "invalid archive: the request body is empty: send the tar archive (plain or gzip) as"
        " the body, as curl --data-binary @FILE does"
    )
    head = await client.head("/containers/cpbad/archive", params={"path": "/nope"})
    assert head.status_code == 404
    head = await client.head("/containers/cpbad/archive", params={"path": "/proc/self"})
    assert head.status_code == 400
    # A directory where the archive has a file, and the other way: refused, as docker's cp.
    answer = await _put(client, "cpbad", "/data", _tar(_file("tree", b"x")))
    assert answer.status_code == 400 and "cannot overwrite the directory" in answer.text
    answer = await _put(client, "cpbad", "/data/tree", _tar(_special("run.sh", tarfile.DIRTYPE)))
    assert answer.status_code == 400 and "cannot overwrite the non-directory" in answer.text


async def test_the_api_answers_while_an_upload_waits(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """A copy in is read as it comes: one whose body stalls holds no other request."""
    await _running(client, "cpslow", files_bundle)
    data = _tar(_file("big", b"a" * 300_000))
    go_on = trio.Event()

    async def body() -> Any:
        yield data[:100_000]
        await go_on.wait()
        yield data[100_000:]

    async with trio.open_nursery() as nursery:
        answers: list[httpx.Response] = []

        async def upload() -> None:
            answers.append(
                await client.put(
                    "/containers/cpslow/archive", params={"path": "/scratch"}, content=body()
                )
            )

        nursery.start_soon(upload)
        state = await client.get("/state")
        assert state.status_code == 200
        go_on.set()
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["bytes"] == 300_000


async def test_a_hung_mount_of_the_container_holds_its_copy_not_the_daemon(
    client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A path looked up on a mount that never answers (a real FUSE mount whose server holds
    the lookup, bound into the container) holds that copy's worker thread; the daemon answers
    other requests meanwhile, and the copy its 404 once the mount answers."""
    point = tmp_path / "hung"
    point.mkdir()

    with hung_mount(point) as hung:
        bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"], edit=bound_at(point))
        await _running(client, "cphung", bundle)
        answers: list[httpx.Response] = []

        async def copy() -> None:
            answers.append(await _get(client, "cphung", "/hung/hang"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(copy)
            assert await trio.to_thread.run_sync(hung.asked.wait, 20), "the lookup never came"
            assert (await client.get("/state")).status_code == 200
            assert not answers
            hung.release()
    assert answers[0].status_code == 404, answers[0].text


# --- ctr-trio cp --------------------------------------------------------------------------------


async def test_ctr_trio_cp_both_ways(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    files_bundle: Path,
    tmp_path: Path,
) -> None:
    await _running(client, "cpcli", files_bundle)
    out = tmp_path / "out"
    out.mkdir()
    # A directory into one that exists: under its own name, as docker's cp ./etc.
    await ok(ctr, "cp", "cpcli:/data/tree", str(out))
    assert (out / "tree" / "sub" / "leaf").read_text() == "leaf\n"
    assert (out / "tree" / "link").readlink() == Path("sub/leaf")
    assert stat.S_IMODE((out / "tree" / "run.sh").stat().st_mode) == 0o750
    # To a name that is not there: the copy takes it; "/.": the contents.
    await ok(ctr, "cp", "cpcli:/data/tree", str(out / "renamed"))
    assert (out / "renamed" / "sub" / "leaf").exists()
    (out / "contents").mkdir()
    await ok(ctr, "cp", "cpcli:/data/tree/.", str(out / "contents"))
    assert (out / "contents" / "run.sh").exists()
    # A file, and a link followed with -L.
    await ok(ctr, "cp", "cpcli:/scratch/note", str(out / "note.txt"))
    assert (out / "note.txt").read_text() == "in-tmpfs\n"
    await ok(ctr, "cp", "-L", "cpcli:/data/hostname-link", str(out))
    assert (out / "hostname-link").read_text() == "the-container\n"

    # In: a directory, into one that is there and as a new name; a file onto a file.
    (tmp_path / "src" / "inner").mkdir(parents=True)
    (tmp_path / "src" / "inner" / "f").write_text("from the host\n")
    await ok(ctr, "cp", str(tmp_path / "src"), "cpcli:/scratch")
    await ok(ctr, "cp", str(tmp_path / "src"), "cpcli:/scratch/copy")
    await ok(ctr, "cp", str(tmp_path / "src" / "inner" / "f"), "cpcli:/scratch/note")
    for path in ("/scratch/src/inner/f", "/scratch/copy/inner/f", "/scratch/note"):
        answer = await _get(client, "cpcli", path)
        assert _content(answer.content, Path(path).name) == b"from the host\n", path

    # Errors, as docker's: exit 1 with a line on stderr.
    missing = await ctr("cp", "cpcli:/nope", str(out))
    assert missing.code == 1 and "no such file or directory" in missing.err
    both = await ctr("cp", "cpcli:/a", "cpcli:/b")
    assert both.code == 1 and "between containers" in both.err
    neither = await ctr("cp", "a", "b")
    assert neither.code == 1 and "one side must be a container" in neither.err
    onto_file = await ctr("cp", str(tmp_path / "src"), "cpcli:/data/tree/run.sh")
    assert onto_file.code == 1 and "cannot copy a directory to a file" in onto_file.err
    usage = await ctr("cp", "cpcli:/etc")
    assert usage.code == 2


async def test_ctr_trio_cp_takes_docker_s_quiet(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    files_bundle: Path,
    tmp_path: Path,
) -> None:
    """``docker cp -q`` (``--quiet``: no progress line) was a usage error, unrecognized
    arguments (found in a user's trial of the CLI, 2026-12-06): cp prints no progress, so it
    is taken and copies as without it, both ways, printing nothing."""
    await _running(client, "cpq", files_bundle)
    copied = await ok(ctr, "cp", "-q", "cpq:/scratch/note", str(tmp_path / "note"))
    assert copied.out == ""
    assert (tmp_path / "note").read_text() == "in-tmpfs\n"
    (tmp_path / "back").write_text("back\n")
    assert (await ok(ctr, "cp", "--quiet", str(tmp_path / "back"), "cpq:/scratch")).out == ""
    assert _content((await _get(client, "cpq", "/scratch/back")).content, "back") == b"back\n"


async def test_ctr_trio_cp_with_no_such_container_says_so_both_ways(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``cp`` to or from a container that is not there says what the daemon says of it, exit
    1 as every not-found of ``cp``: the HEAD that looks at the destination (or at a link for
    -L) has no body, and its 404 is a missing container as well as a missing path. A missing
    path of a container that is there is said in the daemon's words too, HEAD or GET."""
    local = tmp_path / "local"
    local.write_text("here\n")
    gone = "ctr-trio: container 'nosuch' not found\n"
    with trio.fail_after(30):
        for argv in (
            [str(local), "nosuch:/"],
            [str(local), "nosuch:/x"],
            [str(local), "nosuch:/x/"],
            ["nosuch:/x", str(tmp_path / "out")],
            ["-L", "nosuch:/x", str(tmp_path / "out")],
        ):
            result = await ctr("cp", *argv)
            assert (result.code, result.out, result.err) == (1, "", gone), argv
    assert not (tmp_path / "out").exists()

    bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"])
    await _running(client, "there", bundle)
    missing = "ctr-trio: no such file or directory in container 'there': '/nope'\n"
    with trio.fail_after(30):
        followed = await ctr("cp", "-L", "there:/nope", str(tmp_path / "out"))
        got = await ctr("cp", "there:/nope", str(tmp_path / "out"))
        into = await ctr("cp", str(local), "there:/nope/")
        made = await ctr("cp", str(local), "there:/tmp/new-name")
        copied = await _get(client, "there", "/tmp/new-name")
    assert (followed.code, followed.err) == (1, missing)
    assert (got.code, got.err) == (1, missing)
    assert (into.code, into.err) == (
        1,
        "ctr-trio: the destination directory '/nope/' does not exist\n",
    )
    assert (made.code, made.err) == (0, "")
    assert _content(copied.content, "new-name") == b"here\n"


async def test_ctr_trio_cp_says_the_daemon_s_reason_for_a_path_its_head_refuses(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """A destination the daemon refuses other than as missing (a file with a trailing slash,
    a name past 255 bytes) is said in its words, as a source's is: the HEAD that looks at a
    destination has no body, and its 400 was said ``there:/etc/passwd/: error``."""
    local = tmp_path / "local"
    local.write_text("here\n")
    bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"])
    await _running(client, "there", bundle)
    long_name = "/tmp/" + "a" * 300
    with trio.fail_after(30):
        through_a_file = await ctr("cp", str(local), "there:/etc/passwd/")
        followed = await ctr("cp", "-L", "there:/etc/passwd/", str(tmp_path / "out"))
        too_long = await ctr("cp", str(local), f"there:{long_name}")
    not_a_directory = "ctr-trio: '/etc/passwd/' in container 'there' is not a directory\n"
    assert (through_a_file.code, through_a_file.err) == (1, not_a_directory)
    assert (followed.code, followed.err) == (1, not_a_directory)
    assert (too_long.code, too_long.err) == (
        1,
        "ctr-trio: query parameter path has a name of 300 bytes in it: a file name is at most"
        " 255\n",
    )
    assert not (tmp_path / "out").exists()


async def test_ctr_trio_cp_into_the_kernel_s_file_systems_blames_the_destination(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``cp f web:/proc/x``: the daemon refuses to write in /proc, and said so as a broken
    archive's fault (``invalid archive: '/proc' is in one of the kernel's file systems...``),
    which ctr-trio printed; the archive was fine, the destination is the problem, and the
    answer now says that, naming it, as does a directory where the archive has a file."""
    local = tmp_path / "local"
    local.write_text("here\n")
    bundle = make_bundle(["sh", "-c", f"mkdir /tmp/tree; echo {READY}; exec sleep 100000"])
    await _running(client, "there", bundle)
    with trio.fail_after(30):
        into_proc = await ctr("cp", str(local), "there:/proc/x")
        over_a_directory = await ctr("cp", str(local), "there:/tmp/tree/")
        answer = await _put(client, "there", "/tmp", _tar(_file("tree", b"x")))
    assert (into_proc.code, into_proc.out) == (1, "")
    assert into_proc.err == (
        "ctr-trio: cannot copy into '/proc' in container 'there': it is in one of the kernel's"
        " file systems (proc, sysfs, cgroup), where a copy writes nothing\n"
    )
    assert over_a_directory.code == 0  # into it, as docker's
    assert answer.json() == {
        "error": "cannot overwrite the directory 'tree' with the non-directory 'tree'"
    }


def _read_only_root(config: dict[str, Any]) -> None:
    config["root"]["readonly"] = True


async def test_cp_into_a_read_only_rootfs_blames_the_destination(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``cp f web:/etc`` of a container whose bundle has ``root.readonly``: the daemon said
    ``invalid archive: 'f' cannot be made: Read-only file system``, the archive's fault; the
    archive is fine, the container's file system refuses it (docker's cp: ``container rootfs
    is marked read-only``). Now the answer says that, and nothing was made."""
    local = tmp_path / "f"
    local.write_text("here\n")
    bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"], edit=_read_only_root)
    await _running(client, "ro", bundle)
    refused = (
        "cannot copy 'f' into container 'ro': the file system there is read-only (the"
        " bundle's root.readonly, or a read-only mount)"
    )
    with trio.fail_after(30):
        copied = await ctr("cp", str(local), "ro:/etc")
        answer = await _put(client, "ro", "/etc", _tar(_file("f", b"x")))
    assert (copied.code, copied.out, copied.err) == (1, "", f"ctr-trio: {refused}\n")
    assert (answer.status_code, answer.json()) == (400, {"error": refused})
    assert not (bundle / "rootfs" / "etc" / "f").exists()


def _small_tmpfs(config: dict[str, Any]) -> None:
    config["mounts"].append(
        {"destination": "/small", "type": "tmpfs", "source": "tmpfs", "options": ["size=512k"]}
    )


# Written in one piece (up to tarstream's CHUNK), or a piece at a time as it comes.
@pytest.mark.parametrize("size", [CHUNK * 3 // 4, 2 * CHUNK])
async def test_a_copy_in_that_fills_the_container_s_file_system_leaves_no_half_file(
    client: httpx.AsyncClient, make_bundle: BundleFactory, size: int
) -> None:
    """A file that does not fit the container's file system there (a tmpfs of 512 KiB) was
    answered ``invalid archive: 'big' cannot be made: No space left on device``, the archive
    blamed, and stayed written up to the full size, mode 0600: the tmpfs stayed full. Now
    the answer blames the destination and the file cut short is removed; the entries before
    it stay whole, as docker's cp leaves them."""
    bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"], edit=_small_tmpfs)
    await _running(client, "full", bundle)
    fills = b"x" * size
    with trio.fail_after(30):
        members = _tar(_file("before", b"whole"), _file("big", fills))
        answer = await _put(client, "full", "/small", members)
        big = await _get(client, "full", "/small/big")
        before = await _get(client, "full", "/small/before")
    assert (answer.status_code, answer.json()) == (
        400,
        {
            "error": "cannot copy 'big' into container 'full': the file system there is full"
            " (No space left on device)"
        },
    )
    assert big.status_code == 404, big.text
    assert before.status_code == 200, before.text


async def test_ctr_trio_cp_with_a_tar_on_stdin_and_stdout(
    daemon: RunningDaemon, client: httpx.AsyncClient, files_bundle: Path
) -> None:
    await _running(client, "cpdash", files_bundle)
    command = [sys.executable, "-m", "containerd_trio.client.cli", "--address", daemon.url, "cp"]
    copied = await trio.run_process(
        [*command, "cpdash:/data/tree", "-"], capture_stdout=True, capture_stderr=True
    )
    assert copied.returncode == 0, copied.stderr
    assert _content(copied.stdout, "tree/sub/leaf") == b"leaf\n"
    upload = _tar(_file("from-stdin", b"piped\n"))
    sent = await trio.run_process(
        [*command, "-", "cpdash:/scratch"], stdin=upload, capture_stdout=True, capture_stderr=True
    )
    assert sent.returncode == 0, sent.stderr
    answer = await _get(client, "cpdash", "/scratch/from-stdin")
    assert _content(answer.content, "from-stdin") == b"piped\n"
    # A tar on stdin goes into a directory only.
    refused = await trio.run_process(
        [*command, "-", "cpdash:/scratch/from-stdin"], stdin=upload, check=False,
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    assert refused.returncode == 1 and b"must be a directory" in refused.stderr


# --- ctr-trio export ----------------------------------------------------------------------------


async def _export_to_stdout(url: str, *argv: str) -> tuple[int, bytes, str]:
    """``ctr-trio export ...`` with a pipe-like stdout (bytes under the text, not a terminal):
    its exit code, what it wrote, its stderr."""
    written = io.BytesIO()
    stdout, stderr = io.TextIOWrapper(written), io.StringIO()
    code = await trio.to_thread.run_sync(
        cli.run, ["--address", url, "export", *argv], stdout, stderr
    )
    stdout.flush()
    return code, written.getvalue(), stderr.getvalue()


async def test_export_writes_the_container_s_filesystem_as_docker_export_does(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``export ID`` writes the container's / as a tar archive to stdout, ``-o FILE`` into a
    file (0600, as docker's CopyToFile makes it), with docker export's names: ``bin/busybox``,
    not the copy route's ``./bin/busybox``, and no entry for the root; a hard link's target
    named so too. What the container wrote is in it, running or stopped."""
    bundle = make_bundle(["sh", "-c", "echo written > /made-here; echo ready; sleep 100000"])
    data = bundle / "rootfs" / "data"
    data.mkdir()
    (data / "leaf").write_text("leaf\n")
    os.link(data / "leaf", data / "hard")
    since = now()
    pid = (await start_container(client, "exported", bundle))["processes"][0]["pid"]
    out = tmp_path / "out"
    out.mkdir()
    archive = out / "fs.tar"
    with trio.fail_after(60):
        await wait_output(client, "exported", "ready")
        written = await ok(ctr, "export", "-o", str(archive), "exported")
        code, streamed, err = await _export_to_stdout(daemon.url, "exported")
        copied = await client.get(
            "/containers/exported/archive", params={"path": "/", "excludeMounts": "true"}
        )
    assert (written.out, code, err) == ("", 0, "")
    assert streamed == archive.read_bytes()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert os.listdir(out) == ["fs.tar"]  # no temporary file left beside it

    members = _members(streamed)
    assert members["bin/busybox"].isreg() and members["bin/busybox"].size > 0
    assert (members["bin/sh"].issym(), members["bin/sh"].linkname) == (True, "busybox")
    assert _content(streamed, "made-here") == b"written\n"
    assert members["dev"].isdir() and members["proc"].isdir()
    hard = [(m.name, m.linkname) for m in members.values() if m.islnk()]
    assert hard in ([("data/hard", "data/leaf")], [("data/leaf", "data/hard")]), hard
    # Otherwise what the route sends of / without its mounts, member for member, in order.
    assert copied.status_code == 200, copied.text
    route = [name.removeprefix("./") for name in _members(copied.content) if name != "."]
    assert list(members) == route
    assert not [name for name in members if name.startswith(("./", "/")) or name == "."]
    # tar takes members by docker's names (with ./ before them, `data` named nothing), the
    # hard link too.
    (out / "unpacked").mkdir()
    with trio.fail_after(30):
        await trio.run_process(["tar", "-xf", archive, "-C", out / "unpacked", "data", "made-here"])
    assert (out / "unpacked" / "data" / "hard").read_text() == "leaf\n"
    assert (out / "unpacked" / "made-here").read_text() == "written\n"

    # Stopped: its bundle's rootfs, which holds what it wrote.
    assert (await client.patch("/containers/exported", json={"signal": 9})).status_code == 200
    with trio.fail_after(30):
        await wait_exit(client, "exported", pid, since)
        code, stopped, err = await _export_to_stdout(daemon.url, "exported")
    assert (code, err) == (0, "")
    assert _content(stopped, "made-here") == b"written\n"
    assert "bin/busybox" in _members(stopped)


async def test_export_refuses_a_terminal_and_leaves_no_file_when_it_fails(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """As docker export: a terminal on stdout is refused before any request ("cowardly
    refusing ..."), exit 1, nothing written to it; a failed export into a file leaves the file
    as it was (or none) and nothing beside it."""
    main, terminal = os.openpty()
    with open(terminal, "w") as stdout, open(main, "rb", buffering=0) as screen:
        stderr = io.StringIO()
        # No daemon at the address: a request would have been exit 3.
        argv = ["--retry", "0", "--address", "127.0.0.1:1", "export", "anything"]
        with trio.fail_after(10):
            code = await trio.to_thread.run_sync(cli.run, argv, stdout, stderr)
        assert (code, stderr.getvalue()) == (1, f"ctr-trio: {TERMINAL_REFUSED}\n")
        os.set_blocking(main, False)
        with pytest.raises(BlockingIOError):  # nothing came to the terminal
            os.read(screen.fileno(), 1)

    out = tmp_path / "out"
    out.mkdir()
    kept = out / "kept.tar"
    kept.write_bytes(b"what was there")
    with trio.fail_after(30):
        missing = await ctr("export", "-o", str(kept), "ghost")
        nowhere = await ctr("export", "-o", str(out / "no" / "such" / "fs.tar"), "ghost")
        invalid = await ctr("export", "a/b")
    assert (missing.code, missing.out, missing.err) == (
        1,
        "",
        "ctr-trio: container 'ghost' not found\n",
    )
    assert kept.read_bytes() == b"what was there"
    assert (nowhere.code, nowhere.err) == (
        1,
        f"ctr-trio: {out / 'no' / 'such' / 'fs.tar'}: No such file or directory\n",
    )
    assert os.listdir(out) == ["kept.tar"]
    assert invalid.code == 2 and "invalid container id 'a/b'" in invalid.err, invalid


def _mounts_of_its_own(host: Path, bound_file: Path) -> Callable[[dict[str, Any]], None]:
    """A bind mount of the host directory ``host`` at /host-data, of the host file
    ``bound_file`` at /etc/bound, and a tmpfs at /scratch: mounts, as docker's volumes are."""

    def edit(config: dict[str, Any]) -> None:
        config["mounts"] += [
            {"destination": "/host-data", "type": "bind", "source": str(host),
             "options": ["rbind", "ro"]},
            {"destination": "/etc/bound", "type": "bind", "source": str(bound_file),
             "options": ["bind", "ro"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        ]  # fmt: skip

    return edit


async def test_export_leaves_out_what_is_mounted_in_the_container_as_docker_export_does(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    daemon: RunningDaemon,
    client: httpx.AsyncClient,
    make_bundle: BundleFactory,
    tmp_path: Path,
) -> None:
    """``export`` writes the container's own filesystem (``excludeMounts=true``): a host
    directory bind-mounted into it, a host file bind-mounted, its tmpfs, /dev's tmpfs and
    nodes, /proc and /sys are their mount points alone (an empty directory, an empty file for
    the file), found in its init's mountinfo; the rootfs' own files and what the container
    wrote into it are there. ``cp ID:/ -`` still reads through the mounts, as docker cp."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "marker").write_text("the host's\n")
    bound_file = tmp_path / "bound"
    bound_file.write_text("a host file\n")
    bundle = make_bundle(
        ["sh", "-c", "echo in-tmpfs > /scratch/note; echo written > /made-here; echo ready;"
         " exec sleep 100000"],
        edit=_mounts_of_its_own(host, bound_file),
    )  # fmt: skip
    (bundle / "rootfs" / "data").mkdir()
    (bundle / "rootfs" / "data" / "own").write_text("the rootfs'\n")
    await start_container(client, "mounted", bundle)
    with trio.fail_after(60):
        await wait_output(client, "mounted", "ready")
        code, exported, err = await _export_to_stdout(daemon.url, "mounted")
        copied = await trio.to_thread.run_sync(_cli_stdout, daemon.url, "cp", "mounted:/", "-")
        mount_point = await client.get(
            "/containers/mounted/archive", params={"path": "/host-data", "excludeMounts": "true"}
        )
        etc = await client.get(
            "/containers/mounted/archive", params={"path": "/etc", "excludeMounts": "true"}
        )
        wrong = await client.get(
            "/containers/mounted/archive", params={"path": "/", "excludeMounts": "maybe"}
        )
    assert (code, err) == (0, "")

    members = _members(exported)
    for point in ("host-data", "scratch", "dev", "proc", "sys"):
        assert members[point].isdir(), point
        assert not [name for name in members if name.startswith(f"{point}/")], point
    assert members["etc/bound"].isfile() and members["etc/bound"].size == 0
    assert _content(exported, "etc/bound") == b""
    assert _content(exported, "data/own") == b"the rootfs'\n"
    assert _content(exported, "made-here") == b"written\n"
    assert members["bin/busybox"].isreg()

    # cp ID:/ - is docker cp's: through the mounts.
    through = _members(copied)
    assert _content(copied, "./host-data/marker") == b"the host's\n"
    assert _content(copied, "./scratch/note") == b"in-tmpfs\n"
    assert _content(copied, "./etc/bound") == b"a host file\n"
    assert through["./dev/null"].ischr()
    assert _content(copied, "./made-here") == b"written\n"

    # The route's own: a mount point asked for is its entry alone; below another path too.
    assert mount_point.status_code == 200, mount_point.text
    assert list(_members(mount_point.content)) == ["host-data"]
    assert etc.status_code == 200, etc.text
    assert _members(etc.content)["etc/bound"].size == 0
    assert "etc/passwd" in _members(etc.content)
    assert wrong.status_code == 400, wrong.text
    assert "excludeMounts" in wrong.json()["error"]


def _cli_stdout(url: str, *argv: str) -> bytes:
    """What ``ctr-trio ARGV`` writes to a pipe-like stdout (it must succeed)."""
    written = io.BytesIO()
    stdout, stderr = io.TextIOWrapper(written), io.StringIO()
    code = cli.run(["--address", url, *argv], stdout, stderr)
    stdout.flush()
    assert (code, stderr.getvalue()) == (0, ""), stderr.getvalue()
    return written.getvalue()


# --- found in review ----------------------------------------------------------------------------


def _pax_block(key: str, size: int) -> bytes:
    """One PAX extended header whose single record is ``size`` bytes long."""
    body = b""
    value_length = size - len(f"{size} {key}=\n")
    record = f"{size} {key}={'v' * value_length}\n".encode()
    assert len(record) == size
    body = record
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, len(body)
    return info.tobuf(tarfile.USTAR_FORMAT) + body + b"\0" * (-len(body) % 512)


async def test_extended_headers_before_one_entry_are_bounded_together() -> None:
    """Each extended header is bounded (MAX_METADATA), and so are all those before one
    entry: an upload of header after header with new keys, and no entry, grew the reader's
    memory without end (nothing counted them: the limits count entries and data)."""
    blocks = [_pax_block(f"key{i}", 60_000) for i in range(40)]  # 2.4 MB of records

    async def chunks() -> AsyncIterator[bytes]:
        for block in blocks:
            yield block
        yield _tar(_file("f", b"x"))

    reader = TarReader(chunks())
    with trio.fail_after(10), pytest.raises(ArchiveError, match="extended headers"):
        await reader.next_entry()


def test_a_rename_elsewhere_on_the_host_fails_no_resolution_in_a_root(
    tree: int, tmp_path: Path
) -> None:
    """openat2 answers EAGAIN for a path with .. (RESOLVE_IN_ROOT) when any rename or mount
    happens on the host meanwhile, anything anywhere: cp of a path through a climbing link
    failed now and then with a 400 ("Resource temporarily unavailable") on a busy host. It
    is tried again, as openat2(2) says to."""
    moving = tmp_path / "moving"
    moving.mkdir()
    stop = threading.Event()

    def rename() -> None:
        while not stop.is_set():
            os.rename(moving, tmp_path / "moved")
            os.rename(tmp_path / "moved", moving)

    renamer = threading.Thread(target=rename)
    renamer.start()
    failures: dict[str, int] = {}  # by errno's name
    try:
        for _ in range(50_000):
            try:
                os.close(beneath.open_in_root(tree, "a/b/up/hostname", os.O_RDONLY))
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, str(exc))
                failures[name] = failures.get(name, 0) + 1
    finally:
        stop.set()
        renamer.join()
    assert failures == {}, failures


@pytest.fixture
def review_bundle(files_bundle: Path) -> Iterator[Path]:
    """files_bundle with a chain of links (a link to a link to /etc/hostname, a link to a
    link to /etc), a setuid file owned by a user, and a tree deeper than Python's recursion."""
    rootfs = files_bundle / "rootfs"
    (rootfs / "data" / "chain").symlink_to("hostname-link")
    (rootfs / "data" / "dir-chain").symlink_to("etc-link")
    suid = rootfs / "data" / "suid"
    suid.write_text("#!/bin/sh\n")
    os.chown(suid, 1000, 1000)
    suid.chmod(0o4755)
    fd = make_chain(rootfs / "data")
    try:
        os.close(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    yield files_bundle
    remove_chain(rootfs / "data")


#: Deeper than Python's recursion limit (1000), well within PATH_MAX ("d/" 1100 times).
DEEP = 1100


def make_chain(top: Path) -> int:
    """A chain of :data:`DEEP` directories ``d`` under ``top``, made a level at a time from
    the fd of the one above; an fd on the deepest (close it)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(DEEP):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_chain(top: Path) -> None:
    """Remove the chain of directories ``d`` under ``top`` (and the files at its bottom) a
    level at a time: shutil.rmtree, pytest's cleanup of old tmp_paths, recurses a frame a
    level and fails on it."""
    fds = [os.open(top, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        while "d" in os.listdir(fds[-1]):
            fds.append(os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        for name in os.listdir(fds[-1]):
            os.unlink(name, dir_fd=fds[-1])
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("d", dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


async def test_a_links_stat_names_where_its_chain_ends_as_dockers(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    review_bundle: Path,
    tmp_path: Path,
) -> None:
    """docker's linkTarget is the link resolved to its end in the container's root (its
    FollowSymlinkInScope), which cp -L copies and cp into a link copies into: a link to a
    link (libfoo.so -> libfoo.so.1 -> libfoo.so.1.2) gives the file, not the middle link."""
    await _running(client, "cpchain", review_bundle)
    for path, target in (("/data/chain", "/etc/hostname"), ("/data/dir-chain", "/etc"),
                         ("/data/hostname-link", "/etc/hostname")):  # fmt: skip
        head = await client.head("/containers/cpchain/archive", params={"path": path})
        described = pathstat.decode(head.headers[pathstat.STAT_HEADER])
        assert pathstat.is_link(described) and described["linkTarget"] == target, path
    out = tmp_path / "out"
    out.mkdir()
    await ok(ctr, "cp", "-L", "cpchain:/data/chain", str(out))
    assert not (out / "chain").is_symlink()
    assert (out / "chain").read_text() == "the-container\n"
    # Into a link to a link to a directory: into that directory, the link left as it is.
    (tmp_path / "note").write_text("through the chain\n")
    await ok(ctr, "cp", str(tmp_path / "note"), "cpchain:/data/dir-chain")
    assert (review_bundle / "rootfs" / "data" / "dir-chain").is_symlink()
    answer = await _get(client, "cpchain", "/etc/note")
    assert answer.status_code == 200, answer.text
    assert _content(answer.content, "note") == b"through the chain\n"


def test_a_links_end_is_found_in_the_root(tree: int) -> None:
    """resolve_in_root names the path each link leads to, inside the root: never above it,
    the rest as written past what is not there."""
    cases = {
        "file": "/etc/hostname", "abs": "/etc", "rel": "/etc", "a/b/up": "/etc",
        "a/b/up/hostname": "/etc/hostname", "../../abs/../a": "/a", "nope/../x": "/x",
        "abs/nope/x": "/etc/nope/x", "/": "/", "": "/", "a/b/../..": "/",
        "a/b/up/../a/b": "/a/b", "file/x/../y": "/etc/hostname/y", "a/nope/../../b": "/b",
    }  # fmt: skip
    for path, resolved in cases.items():
        assert beneath.resolve_in_root(tree, path) == resolved, path
    with pytest.raises(OSError, match=os.strerror(errno.ELOOP)) as raised:
        beneath.resolve_in_root(tree, "loop")
    assert raised.value.errno == errno.ELOOP


async def test_cp_out_makes_no_setuid_file_it_does_not_give_its_owner(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    review_bundle: Path,
    tmp_path: Path,
) -> None:
    """A setuid file of a user of the container, copied out by root without -a, is root's
    here: its setuid bit would make it a setuid-root program of the container's choosing. As
    a copy in drops the bits, and as tar does for an owner it does not restore. With -a the
    owner is kept, and the bit with it."""
    await _running(client, "cpsuid", review_bundle)
    await ok(ctr, "cp", "cpsuid:/data/suid", str(tmp_path / "plain"))
    info = (tmp_path / "plain").stat()
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o755
    await ok(ctr, "cp", "-a", "cpsuid:/data/suid", str(tmp_path / "kept"))
    info = (tmp_path / "kept").stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (1000, 0o4755)


async def test_a_tree_deeper_than_pythons_recursion_comes_out_whole(
    client: httpx.AsyncClient, review_bundle: Path
) -> None:
    """The walk holds no Python frame a level: a container's 1100-deep tree is sent whole."""
    await _running(client, "cpdeep", review_bundle)
    with trio.fail_after(60):
        answer = await _get(client, "cpdeep", "/data/d")
    assert answer.status_code == 200
    names = _members(answer.content)
    assert "d/" * DEEP + "bottom" in names


async def test_a_copy_of_the_kernels_directories_leaves_them_as_they_are(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """``cp ID:/`` sends ./proc and ./sys empty; the same archive sent back (a rootfs
    copied in) leaves the kernel's directories as they are: their mode is not set, nothing
    is written in them, and the copy is no 500."""
    await _running(client, "cpkern", files_bundle)
    proc = _special("proc", tarfile.DIRTYPE)
    proc[0].mode = 0o700
    sys_ = _special("sys", tarfile.DIRTYPE)
    sys_[0].mode = 0o700
    answer = await _put(client, "cpkern", "/", _tar(proc, sys_, _file("after", b"x")))
    assert answer.status_code == 200, answer.text
    described = pathstat.decode(
        (await client.head("/containers/cpkern/archive", params={"path": "/proc"})).headers[
            pathstat.STAT_HEADER
        ]
    )
    assert described["mode"] & 0o777 == 0o555, oct(described["mode"])


# --- what the container swaps while a copy looks ------------------------------------------------


class SwappingOpen:
    """``os.open`` through, but the first time ``name`` is opened in a directory, the entry is
    swapped first (as a process of the container with CAP_MKNOD swaps it, between a look and
    an open); and every fd opened on ``name`` is recorded with what it opened."""

    def __init__(self, name: str, swap: Callable[[str, int], None]) -> None:
        self.name = name
        self.swap = swap
        self.swapped = False
        #: (whether O_PATH, the file type) of each fd opened on ``name``.
        self.opened: list[tuple[bool, int]] = []
        self._open = os.open

    def __call__(
        self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None
    ) -> int:
        if path == self.name and dir_fd is not None and not self.swapped:
            self.swapped = True
            self.swap(path, dir_fd)
        fd = self._open(path, flags, mode, dir_fd=dir_fd)
        if path == self.name:
            self.opened.append((bool(flags & os.O_PATH), stat.S_IFMT(os.fstat(fd).st_mode)))
        return fd


def _to_fifo(name: str, directory: int) -> None:
    os.unlink(name, dir_fd=directory)
    os.mkfifo(name, dir_fd=directory)


async def test_a_file_swapped_for_a_fifo_before_its_open_is_never_opened(
    client: httpx.AsyncClient, files_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk saw a regular file; before the copy opens it, it is a FIFO (or a device: the
    open of one runs its driver's open as the host's root, a watchdog's starts its timer).
    The copy pins the entry (O_PATH, which opens nothing), looks at what it pinned, and reads
    only a regular file, the one it pinned: the FIFO is never opened, and is left out, as the
    walk did not see it. What else the directory holds comes out."""
    (files_bundle / "rootfs" / "data" / "tree" / "swapped").write_text("was a file\n")
    await _running(client, "cpswap", files_bundle)
    spy = SwappingOpen("swapped", _to_fifo)
    monkeypatch.setattr(os, "open", spy)
    with trio.fail_after(30):
        answer = await _get(client, "cpswap", "/data/tree")
    monkeypatch.undo()
    assert answer.status_code == 200, answer.text
    assert spy.swapped
    assert (False, stat.S_IFIFO) not in spy.opened, spy.opened
    members = _members(answer.content)
    assert "tree/swapped" not in members
    assert _content(answer.content, "tree/sub/leaf") == b"leaf\n"
    assert _content(answer.content, "tree/run.sh") == b"#!/bin/sh\n"


async def test_a_fifo_of_a_copy_in_swapped_before_its_metadata_is_refused(
    client: httpx.AsyncClient, files_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy in makes a FIFO, then opens it to set the archive's mode, owner and time: if
    the container swapped it meanwhile (a file of its own, hard-linked there), the copy
    changes nothing of what it did not make and says so (400), as a hard link it did not make
    is refused."""
    await _running(client, "cpfifo", files_bundle)
    target = files_bundle / "rootfs" / "data" / "tree" / "run.sh"
    before = target.stat()
    real_mkfifo = os.mkfifo

    def swapping_mkfifo(path: Any, mode: int = 0o666, *, dir_fd: int | None = None) -> None:
        real_mkfifo(path, mode, dir_fd=dir_fd)
        if path == "pipe":
            os.unlink(path, dir_fd=dir_fd)
            os.link("tree/run.sh", path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    monkeypatch.setattr(os, "mkfifo", swapping_mkfifo)
    pipe = _special("pipe", tarfile.FIFOTYPE)
    pipe[0].mode, pipe[0].mtime = 0o666, 1_000_000
    with trio.fail_after(30):
        answer = await _put(client, "cpfifo", "/data", _tar(pipe), copyOwner="true")
    monkeypatch.undo()
    assert answer.status_code == 400, answer.text
    assert "'pipe'" in answer.json()["error"] and "replaced" in answer.json()["error"]
    after = target.stat()
    assert (after.st_mode, after.st_uid, after.st_mtime_ns) == (
        before.st_mode, before.st_uid, before.st_mtime_ns,
    )  # fmt: skip


def test_a_root_whose_process_ends_after_its_check_is_no_root_without_its_kernel_mounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The root of a process is its /proc/PID/root, checked to be that process by its start
    time; the kernel's file systems it holds (which a copy does not enter) come from its
    mountinfo. If the process ends just after the check (its pid free for another's), the
    mountinfo read by pid is nobody's, or another process's: what comes back is that
    process's mounts, read while it was the one checked, or a Conflict; never a root with no
    kernel file systems, whose copy of / would read /proc/kcore."""
    process = subprocess.Popen(["sleep", "100"])
    real_start_time = procfs.start_time
    started = real_start_time(process.pid)
    with open(f"/proc/{process.pid}/mountinfo", "rb") as mountinfo:
        expected = pseudo_devices(mountinfo.read())
    assert expected  # the host's /proc and /sys at least

    def start_time_then_exit(pid: int) -> int | None:
        answer = real_start_time(pid)
        if pid == process.pid and process.poll() is None:
            process.kill()
            process.wait()
        return answer

    monkeypatch.setattr(procfs, "start_time", start_time_then_exit)
    try:
        root = paths.process_root(process.pid, started, "gone")
    except Conflict:
        return
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with root:
        assert root.pseudo == expected


# --- a container with a user namespace ----------------------------------------------------------

#: The container's ids 0..65535 are the host's 100000..165535 (as docker's userns-remap).
USERNS_HOST = 100_000
USERNS_SIZE = 65_536


def _user_namespace(config: dict[str, Any]) -> None:
    config["linux"]["namespaces"].append({"type": "user"})
    mapping = [{"containerID": 0, "hostID": USERNS_HOST, "size": USERNS_SIZE}]
    config["linux"]["uidMappings"] = mapping
    config["linux"]["gidMappings"] = mapping


@pytest.fixture
def userns_bundles() -> Iterator[BundleFactory]:
    """Bundles where the container's root (the host's 100000, no root of the host's) can
    reach its rootfs to mount it: not under pytest's tmp_path, whose top is the host root's
    alone (0700)."""
    top = Path(tempfile.mkdtemp(prefix="ctr-trio-cpuserns-"))
    top.chmod(0o711)
    try:
        yield BundleFactory(top)
    finally:
        shutil.rmtree(top)


def _userns_bundle(bundles: BundleFactory, args: list[str]) -> Path:
    """A busybox bundle in a user namespace, its rootfs owned by the container's root (host
    100000), as the namespace's root must own what it runs. The busybox is a copy: the
    rootfs's is a hard link to the host's, which a chown would give away."""
    bundle = bundles(args, edit=_user_namespace)
    rootfs = bundle / "rootfs"
    busybox = rootfs / "bin" / "busybox"
    copy = busybox.with_name(".busybox")
    copy.write_bytes(busybox.read_bytes())
    copy.chmod(0o755)
    os.replace(copy, busybox)
    for top, directories, files in os.walk(rootfs):
        for name in [top, *(os.path.join(top, entry) for entry in directories + files)]:
            os.lchown(name, USERNS_HOST, USERNS_HOST)
    return bundle


def _owned(name: str, uid: int, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info, data = _file(name, data)
    info.uid = info.gid = uid
    return info, data


async def test_owners_go_through_the_user_namespace_of_the_container_both_ways(
    ctr: Ctr,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    userns_bundles: BundleFactory,
    tmp_path: Path,
) -> None:
    """As docker's with userns-remap: a copy in writes the container's uid 1000 as the host's
    101000 (what the container sees as 1000), a copy out names the host's 101000 as 1000 and
    an owner the namespace does not map as the kernel shows it inside (65534); an owner the
    namespace does not map cannot be written: 400, nothing of that entry made."""
    bundle = _userns_bundle(userns_bundles, ["sh", "-c", f"echo {READY}; exec sleep 100000"])
    rootfs = bundle / "rootfs"
    with trio.fail_after(45):
        await _running(client, "cpuserns", bundle)
        answer = await _put(
            client, "cpuserns", "/root", _tar(_owned("owned", 1000)), copyOwner="true"
        )
        assert answer.status_code == 200, answer.text
        host = (rootfs / "root" / "owned").stat()
        assert (host.st_uid, host.st_gid) == (USERNS_HOST + 1000, USERNS_HOST + 1000)
        inside = await ok(ctr, "exec", "cpuserns", "--", "stat", "-c", "%u:%g", "/root/owned")
        assert inside.out.strip() == "1000:1000"
        # Without copyOwner: the container's root, which is the host's 100000.
        answer = await _put(client, "cpuserns", "/root", _tar(_owned("rooted/file", 1000)))
        assert answer.status_code == 200, answer.text
        for made in ("rooted", "rooted/file"):  # a directory the copy made too
            host = (rootfs / "root" / made).stat()
            assert (host.st_uid, host.st_gid) == (USERNS_HOST, USERNS_HOST), made
        inside = await ok(ctr, "exec", "cpuserns", "--", "stat", "-c", "%u:%g", "/root/rooted")
        assert inside.out.strip() == "0:0"
        # ctr-trio cp -a, both ways: a file of uid 1000 here is 1000 inside, and back.
        local = tmp_path / "mine"
        local.write_text("mine\n")
        os.chown(local, 1000, 1000)
        await ok(ctr, "cp", "-a", str(local), "cpuserns:/root/mine")
        host = (rootfs / "root" / "mine").stat()
        assert (host.st_uid, host.st_gid) == (USERNS_HOST + 1000, USERNS_HOST + 1000)
        await ok(ctr, "cp", "-a", "cpuserns:/root/mine", str(tmp_path / "back"))
        back = (tmp_path / "back").stat()
        assert (back.st_uid, back.st_gid) == (1000, 1000)

        # Out: the container's view of each owner; the host's root is nobody inside.
        os.chown(rootfs / "root" / "rooted" / "file", 0, 0)
        answer = await _get(client, "cpuserns", "/root")
        members = _members(answer.content)
        assert (members["root/owned"].uid, members["root/owned"].gid) == (1000, 1000)
        assert (members["root/rooted"].uid, members["root/rooted"].gid) == (0, 0)
        assert (members["root/rooted/file"].uid, members["root/rooted/file"].gid) == (
            65534, 65534,
        )  # fmt: skip

        # An owner outside the mapping: refused before anything of its entry is made (not
        # even the directories it needs).
        for uid in (USERNS_SIZE, 4_000_000):
            answer = await _put(
                client, "cpuserns", "/root", _tar(_owned("new/dirs/bad", uid)), copyOwner="true"
            )
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert f"uid {uid}" in error and "'cpuserns'" in error, error
            assert not (rootfs / "root" / "new").exists()


async def test_a_stopped_container_maps_owners_as_its_bundle_says(
    client: httpx.AsyncClient, userns_bundles: BundleFactory
) -> None:
    """Once it has stopped, its rootfs is written with its bundle's mappings."""
    bundle = _userns_bundle(userns_bundles, ["true"])
    with trio.fail_after(45):
        since = now()
        started = await start_container(client, "cpusernsdown", bundle)
        await wait_exit(client, "cpusernsdown", started["processes"][0]["pid"], since)
        answer = await _put(
            client, "cpusernsdown", "/tmp", _tar(_owned("f", 1000)), copyOwner="true"
        )
        assert answer.status_code == 200, answer.text
        host = (bundle / "rootfs" / "tmp" / "f").stat()
        assert (host.st_uid, host.st_gid) == (USERNS_HOST + 1000, USERNS_HOST + 1000)
        member = _members((await _get(client, "cpusernsdown", "/tmp/f")).content)["f"]
        assert (member.uid, member.gid) == (1000, 1000)


def test_id_mappings_are_read_as_runc_and_the_kernel_give_them() -> None:
    """A bundle's mappings (only with a user namespace of its own), the kernel's uid_map as
    the host reads it, and the host's own namespace: no mapping at all."""
    config: dict[str, Any] = {"linux": {"namespaces": [{"type": "pid"}]}}
    assert idmap.from_config(config, "config.json") is None
    _user_namespace(config)
    mapping = idmap.from_config(config, "config.json")
    assert mapping is not None
    assert mapping.to_host(1000, 0) == (USERNS_HOST + 1000, USERNS_HOST)
    assert mapping.to_host(USERNS_SIZE, -1) == (None, None)
    assert mapping.to_container(USERNS_HOST + 1000, 0) == (1000, idmap.OVERFLOW_ID)
    assert idmap.describe(mapping.uids) == "0-65535 as the host's 100000-165535"
    # A namespace joined by path, with no mappings of the bundle's: the kernel's to say.
    joined = {"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}}
    assert idmap.from_config(joined, "config.json") is None
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": -1, "size": 1}]
    with pytest.raises(InvalidRequest, match="gidMappings in config"):
        idmap.from_config(config, "config.json")
    assert idmap.parse_id_map(b"         0     100000      65536\n   65536 0 1\n") == (
        idmap.IdRange(0, 100_000, 65_536), idmap.IdRange(65_536, 0, 1),
    )  # fmt: skip
    process = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY)
    try:
        assert idmap.from_process(process) is None  # the host's: 0 0 4294967295
    finally:
        os.close(process)


def _entry_bytes(info: tarfile.TarInfo, data: bytes) -> bytes:
    """One member of a tar stream as it goes on the wire, its data padded: no end marker."""
    info.size = len(data)
    return info.tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


async def test_a_client_that_leaves_mid_copy_in_leaves_what_it_sent_whole_made(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """Small entries wait to be made many to a worker thread's turn (QUEUED_ENTRIES): a
    client that left (or an upload that stopped coming, a 408) once the daemon had read
    some whole had those left out for good, where each entry that came whole stays (what
    came before the end of a copy stays, as docker's; before the queue, each was made as
    it came)."""
    await _running(client, "cpleave", files_bundle)
    many = files_bundle / "rootfs" / "data" / "leave"
    count = QUEUED_ENTRIES + 5
    sent = b"".join(_entry_bytes(*_file(f"leave/f{n:03}", b"x")) for n in range(count))

    async def body() -> AsyncIterator[bytes]:
        yield sent  # one part: the daemon reads all of it without waiting on the network
        await trio.sleep_forever()  # ... then waits for the next entry, which never comes

    async def upload() -> None:
        await client.put("/containers/cpleave/archive", params={"path": "/data"}, content=body())

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(upload)
            # The first turn's entries are made: the daemon has read that far, and the five
            # after them (in the same part) as soon as that turn is done.
            while not (many / f"f{QUEUED_ENTRIES - 1:03}").exists():  # noqa: ASYNC110 (the disk is all there is to ask)
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()  # the client leaves: its connection is closed
    with trio.move_on_after(5):
        while not (many / f"f{count - 1:03}").exists():  # noqa: ASYNC110 (the disk is all there is to ask)
            await trio.sleep(0.01)
    made = sorted(path.name for path in many.iterdir())
    assert made == [f"f{n:03}" for n in range(count)]
    assert (many / f"f{count - 1:03}").read_bytes() == b"x"


async def test_a_client_that_leaves_mid_copy_out_holds_no_event_loop_on_its_files_close(
    client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A copy out whose client leaves in the middle of a file closes that file: a close waits
    for the file system's answer (FUSE's FLUSH), which a FUSE server of the container may
    never give. It is closed in a worker thread, as each read is: it was closed in the event
    loop (the stream's finally), where a close that hung held every request of the daemon.
    A real FUSE mount whose server holds the close, bound into the container."""
    point = tmp_path / "held"
    point.mkdir()
    with flush_held_mount(point, 1 << 30, hold=5.0) as held:
        bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"], edit=bound_at(point))
        await _running(client, "cpleft", bundle)
        with trio.fail_after(20):
            params = {"path": "/hung/big"}
            async with client.stream("GET", "/containers/cpleft/archive", params=params) as answer:
                assert answer.status_code == 200
                async for _ in answer.aiter_raw():
                    break  # the file is open, a GiB of it to go: the client leaves
            assert await trio.to_thread.run_sync(held.asked.wait, 10), "no close came"
            assert (await client.get("/state")).status_code == 200
            # Answered while the close is still held: the close waits in a thread of its own.
            assert not held.gave_up.is_set(), "the daemon's event loop waited on the close"
            held.release()


async def test_a_copy_in_cancelled_as_its_queue_is_made_makes_it_all_the_same(
    tmp_path: Path,
) -> None:
    """A copy in whose client leaves just as a turn's queue is due (the cancel comes with
    the part that fills it): the turn's thread is not started (trio.to_thread raises the
    cancel first), and the queue, emptied before, was lost: all QUEUED_ENTRIES entries that
    came whole never made. A stopped container's rootfs (the same copy as a running one's)."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    count = QUEUED_ENTRIES
    entries = [_entry_bytes(*_file(f"f{n:03}", b"x")) for n in range(count)]

    with trio.CancelScope() as scope:

        async def chunks() -> AsyncIterator[bytes]:
            yield b"".join(entries[:-1])
            scope.cancel()  # the client leaves as the last part comes
            yield entries[-1]
            await trio.sleep_forever()

        with paths.rootfs_root(rootfs) as root, trio.fail_after(10):
            await paths.copy_in(chunks(), root, "/", "stopped")
    assert scope.cancelled_caught
    assert sorted(path.name for path in rootfs.iterdir()) == [f"f{n:03}" for n in range(count)]


async def test_a_copy_in_of_a_large_file_holds_no_event_loop_on_its_look_at_it(
    client: httpx.AsyncClient, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """A file of a copy in larger than a piece is written a piece at a time; once its
    metadata is set, its (device, inode) is taken (for a hard link to it) with an fstat,
    which a FUSE file system answers (GETATTR), or not. It was taken in the event loop, where
    a mount of the container that does not answer held every request of the daemon; it is
    taken in the worker thread that sets the metadata. A real FUSE mount whose server holds
    that look, bound into the container."""
    point = tmp_path / "held"
    point.mkdir()
    with stat_held_mount(point, hold=5.0) as held:
        bundle = make_bundle(["sh", "-c", f"echo {READY}; exec sleep 100000"], edit=bound_at(point))
        await _running(client, "cpstat", bundle)
        answers: list[httpx.Response] = []

        async def copy() -> None:
            data = b"a" * (CHUNK + CHUNK // 2)
            answers.append(await _put(client, "cpstat", "/hung", _tar(_file("big", data))))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(copy)
                assert await trio.to_thread.run_sync(held.asked.wait, 10), "no look came"
                assert (await client.get("/state")).status_code == 200
                # Answered while the look is still held: it waits in a thread of its own.
                assert not held.gave_up.is_set(), "the daemon's event loop waited on the fstat"
                held.release()
    assert answers[0].status_code == 200, answers[0].text


async def test_a_directory_a_failed_copy_in_made_has_the_archives_mode(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """A directory is made 0700 and given its archive's mode, owner and time at the copy's
    end (so that what goes into it changes none of them): a copy that failed on a later
    entry left the directories it made, with what it wrote in them, 0700 and the daemon's,
    where no user of the container but root could reach what "stays"."""
    await _running(client, "cpdirs", files_bundle)
    made = _special("made", tarfile.DIRTYPE)
    answer = await _put(client, "cpdirs", "/data", _tar(made, _file("made/f", b"x"), _file("../x")))
    assert answer.status_code == 400 and "climbs out" in answer.text, answer.text
    directory = files_bundle / "rootfs" / "data" / "made"
    assert (directory / "f").read_bytes() == b"x"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


async def test_a_head_says_no_length_its_get_would_not_send(
    client: httpx.AsyncClient, files_bundle: Path
) -> None:
    """HEAD answered Content-Length: 0 (the length of the empty body it was made with), where
    its GET streams a tar of the path, of no length known up front: a client that reads the
    HEAD's length (RFC 9110 9.3.2: it is the GET's, if sent at all) took every path for
    empty. Found by hand with curl -I in trial5. Its head now frames the answer as its GET's
    does: no Content-Length."""
    await _running(client, "cphead", files_bundle)
    for path in ("/data/tree/run.sh", "/data/tree"):
        answer = await _get(client, "cphead", path)
        assert answer.status_code == 200, answer.text
        head = await client.head("/containers/cphead/archive", params={"path": path})
        assert head.status_code == 200 and head.content == b""
        assert head.headers[pathstat.STAT_HEADER] == answer.headers[pathstat.STAT_HEADER]
        assert head.headers["content-type"] == answer.headers["content-type"]
        assert "content-length" not in answer.headers  # the tar is streamed
        assert head.headers.get("content-length") is None, head.headers
