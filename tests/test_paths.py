"""Nothing outside the bundle: links planted in a bundle lead the daemon nowhere.

Whoever can write into a bundle can put a symbolic link where the daemon expects a directory or
a file of the bundle's own. Each test plants one, asks the real daemon to act through it, and
checks that the answer is a 400 saying why and that the link's target is untouched.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from containerd_trio import beneath, checkpoints
from containerd_trio.errors import InvalidRequest, NotFound
from containerd_trio.runtime import CriuOptions

from .conftest import BundleFactory, RunningDaemon, start_container

# --- the resolver itself -----------------------------------------------------------------------


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with openat2 and again with the O_NOFOLLOW walk that stands in for it."""
    if request.param == "walk":
        monkeypatch.setattr(beneath, "_have_openat2", False)
    return str(request.param)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[int]:
    """``top/`` with ``sub/file``, a link inside (``inner -> sub``) and links out of it."""
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "file").write_text("inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file").write_text("secret")
    (top / "inner").symlink_to("sub")
    (top / "out").symlink_to("../outside")
    (top / "absolute").symlink_to(tmp_path / "outside")
    fd = beneath.open_directory(top)
    yield fd
    os.close(fd)


def _read(directory: int, path: str, *, links: bool = False) -> str:
    fd = beneath.open_beneath(directory, path, os.O_RDONLY, links=links)
    with open(fd) as opened:
        return opened.read()


def test_beneath_opens_what_is_inside(tree: int, resolver: str) -> None:
    assert _read(tree, "sub/file") == "inside"
    assert _read(tree, "./sub//file") == "inside"
    fd = beneath.open_beneath(tree, "sub/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.close(fd)
    assert os.stat("sub/new", dir_fd=tree).st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("inner/file", errno.ELOOP),  # a link, even one that stays inside
        ("out/file", errno.ELOOP),
        ("absolute/file", errno.ELOOP),
        ("out", errno.ELOOP),
        ("../top/sub/file", errno.EXDEV),
        ("/etc/passwd", errno.EXDEV),
    ],
)
def test_beneath_refuses_links_and_escapes(tree: int, resolver: str, path: str, code: int) -> None:
    with pytest.raises(OSError, match=os.strerror(code)) as caught:
        beneath.open_beneath(tree, path, os.O_RDONLY)
    assert caught.value.errno == code


def test_beneath_may_follow_links_that_stay_inside(tree: int) -> None:
    assert _read(tree, "inner/file", links=True) == "inside"
    for escape in ("out/file", "absolute/file"):
        with pytest.raises(OSError, match=os.strerror(errno.EXDEV)) as caught:
            beneath.open_beneath(tree, escape, os.O_RDONLY, links=True)
        assert caught.value.errno == errno.EXDEV


# --- checkpoints, module level (both resolvers) ---------------------------------------------


def _fake_checkpoint(directory: Path, name: str) -> Path:
    """A completed checkpoint as the daemon writes it (metadata only: no CRIU needed here)."""
    path = directory / name
    path.mkdir(parents=True)
    info = checkpoints.new_info(name, CriuOptions())
    (path / checkpoints.METADATA_NAME).write_text(
        json.dumps({"name": info.name, "tcp": False, "unixSockets": False, "shell": False,
                    "timestamp": info.timestamp})
    )  # fmt: skip
    return path


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """A bundle whose ``checkpoints`` links to a directory holding a checkpoint ``victim``."""
    bundle, elsewhere = tmp_path / "bundle", tmp_path / "elsewhere"
    bundle.mkdir()
    _fake_checkpoint(elsewhere, "victim")
    (bundle / "checkpoints").symlink_to(elsewhere)
    return bundle, elsewhere


def test_checkpoint_functions_refuse_a_linked_checkpoints_dir(
    planted: tuple[Path, Path], resolver: str
) -> None:
    bundle, elsewhere = planted
    for action in (
        lambda: checkpoints.reserve(bundle, "new"),
        lambda: checkpoints.list_all(bundle),
        lambda: checkpoints.load(bundle, "victim"),
        lambda: checkpoints.image_path(bundle, "victim"),
        lambda: checkpoints.delete(bundle, "victim"),
        lambda: checkpoints.commit(bundle, checkpoints.new_info("victim", CriuOptions())),
    ):
        with pytest.raises(InvalidRequest, match="checkpoints is a symbolic link"):
            action()
    checkpoints.discard(bundle / "checkpoints" / "victim")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim"]
    assert (elsewhere / "victim" / checkpoints.METADATA_NAME).exists()


def test_checkpoint_functions_refuse_a_linked_checkpoint(tmp_path: Path, resolver: str) -> None:
    bundle, elsewhere = tmp_path / "bundle", tmp_path / "elsewhere"
    _fake_checkpoint(bundle / "checkpoints", "real")
    target = _fake_checkpoint(elsewhere, "victim")
    (bundle / "checkpoints" / "victim").symlink_to(target)
    assert [info.name for info in checkpoints.list_all(bundle)] == ["real"]  # links are skipped
    for action in (
        lambda: checkpoints.reserve(bundle, "victim"),
        lambda: checkpoints.load(bundle, "victim"),
        lambda: checkpoints.delete(bundle, "victim"),
    ):
        with pytest.raises(InvalidRequest, match=r"'victim' in .* is a symbolic link"):
            action()
    checkpoints.discard(bundle / "checkpoints" / "victim")
    assert (target / checkpoints.METADATA_NAME).exists()
    checkpoints.delete(bundle, "real")
    assert not (bundle / "checkpoints" / "real").exists()
    with pytest.raises(NotFound, match="checkpoint 'real' not found"):
        checkpoints.load(bundle, "real")


@pytest.mark.deadline(10)
async def test_metadata_that_is_a_link_or_a_fifo_is_not_a_checkpoint(
    tmp_path: Path, resolver: str
) -> None:
    bundle = tmp_path / "bundle"
    secret = tmp_path / "secret.json"
    secret.write_text('{"name": "x"}')
    (bundle / "checkpoints" / "linked").mkdir(parents=True)
    (bundle / "checkpoints" / "linked" / checkpoints.METADATA_NAME).symlink_to(secret)
    (bundle / "checkpoints" / "fifo").mkdir()
    os.mkfifo(bundle / "checkpoints" / "fifo" / checkpoints.METADATA_NAME)
    # In a thread given up at the deadline: a FIFO opened for reading would block for ever.
    listed = await trio.to_thread.run_sync(checkpoints.list_all, bundle, abandon_on_cancel=True)
    assert listed == []
    with pytest.raises(NotFound, match="unreadable metadata"):
        checkpoints.load(bundle, "linked")
    with pytest.raises(NotFound, match="not a regular file"):
        await trio.to_thread.run_sync(checkpoints.load, bundle, "fifo", abandon_on_cancel=True)


# --- checkpoints through the API --------------------------------------------------------------


async def test_linked_checkpoints_dir_over_the_api(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """Create, list, delete and restore: each a 400 naming the link; the target untouched."""
    client = daemon.client
    bundle = make_bundle()
    elsewhere = tmp_path / "elsewhere"
    _fake_checkpoint(elsewhere, "victim")
    (bundle / "checkpoints").symlink_to(elsewhere)
    await start_container(client, "c", bundle)

    answers = [
        await client.post("/containers/c/checkpoint/new", json={}),
        await client.get("/containers/c/checkpoint"),
        await client.get("/containers/c/checkpoint", params={"bundlePath": str(bundle)}),
        await client.delete(
            "/containers/other/checkpoint/victim", params={"bundlePath": str(bundle)}
        ),
        await client.delete("/containers/c/checkpoint/victim"),
        await client.post(
            "/containers/restored", json={"bundlePath": str(bundle), "checkpoint": "victim"}
        ),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert f"{bundle}/checkpoints is a symbolic link" in response.json()["error"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim"]
    assert (elsewhere / "victim" / checkpoints.METADATA_NAME).exists()
    state = (await client.get("/state")).json()["containers"]
    assert [(c["id"], c["state"]["status"]) for c in state] == [("c", "running")]


async def test_linked_checkpoint_over_the_api(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    client = daemon.client
    bundle = make_bundle()
    target = _fake_checkpoint(tmp_path / "elsewhere", "victim")
    (bundle / "checkpoints").mkdir()
    (bundle / "checkpoints" / "victim").symlink_to(target)
    await start_container(client, "c", bundle)

    listed = await client.get("/containers/c/checkpoint")
    assert listed.status_code == 200 and listed.json() == []
    answers = [
        await client.post("/containers/c/checkpoint/victim", json={}),
        await client.delete("/containers/c/checkpoint/victim"),
        await client.post(
            "/containers/restored", json={"bundlePath": str(bundle), "checkpoint": "victim"}
        ),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert "checkpoint 'victim' in" in response.json()["error"]
        assert "is a symbolic link" in response.json()["error"]
    assert (target / checkpoints.METADATA_NAME).exists()
    assert (await client.get("/containers/restored")).status_code == 404
