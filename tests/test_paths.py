"""Nothing outside the bundle: links planted in a bundle lead the daemon nowhere.

Whoever can write into a bundle can put a symbolic link where the daemon expects a directory or
a file of the bundle's own, or a FIFO where it expects config.json. Each test plants one, asks
the real daemon to act through it, and checks that the answer is a 400 saying why (never quoting
the file), that nothing was made and that the link's target is untouched.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from containerd_trio import beneath, checkpoints
from containerd_trio.bundle import BundleConfig, check_config, read_bundle, without_file_contents
from containerd_trio.container._stdin import stdin_was_pipe
from containerd_trio.errors import InvalidRequest, NotFound, quoted
from containerd_trio.model import MemoryResources, Resources
from containerd_trio.runtime import CriuOptions

from .helpers import BundleFactory, RunningDaemon, runc_ids, start_container

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


@pytest.mark.deadline(10)
async def test_a_checkpoints_descriptors_are_read_only_from_a_regular_file(
    tmp_path: Path, resolver: str
) -> None:
    """A restore reads the image's descriptors.json (was the init's stdin a pipe?): a FIFO
    there held the daemon's one thread in open() until something wrote to it, a deeply nested
    one was a 500 with a traceback (RecursionError), a link was followed. Each means "no"."""
    image = tmp_path / "image"
    image.mkdir()
    descriptors = image / "descriptors.json"
    descriptors.write_text('["pipe:[1234]", "/dev/null", "/dev/null"]')
    assert stdin_was_pipe(image)
    descriptors.unlink()
    secret = tmp_path / "secret.json"
    secret.write_text('["pipe:[1234]"]')
    descriptors.symlink_to(secret)
    assert not stdin_was_pipe(image)
    descriptors.unlink()
    descriptors.write_text("[" * 50_000)
    assert not stdin_was_pipe(image)
    descriptors.unlink()
    os.mkfifo(descriptors)
    # In a thread given up at the deadline: the old code blocks for ever on the FIFO.
    assert not await trio.to_thread.run_sync(stdin_was_pipe, image, abandon_on_cancel=True)


@pytest.mark.deadline(30)
@pytest.mark.parametrize("kind", ["fifo", "link", "directory"])
async def test_a_restore_whose_descriptors_are_no_regular_file_is_refused_before_runc(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path, kind: str
) -> None:
    """runc restore reads the image's descriptors.json itself, by name and following links:
    a FIFO there held the restore (and its id, and one of runc's slots) until the checkpoint
    deadline (600 s), a link had root's runc open whatever it named. The daemon's own read of
    it (stdin_was_pipe) took each as "no" and went on to runc. Now a 400 first, nothing
    started."""
    client = daemon.client
    bundle = make_bundle()
    await start_container(client, "c", bundle)
    made = await client.post("/containers/c/checkpoint/cp", json={"exit": True})
    assert made.status_code == 201, made.text
    descriptors = bundle / "checkpoints" / "cp" / "descriptors.json"
    descriptors.unlink()
    if kind == "fifo":
        os.mkfifo(descriptors)
    elif kind == "link":
        secret = tmp_path / "secret.json"
        secret.write_text('["/dev/null", "/dev/null", "/dev/null"]')
        descriptors.symlink_to(secret)
    else:
        descriptors.mkdir()
    response = await client.post(
        "/containers/r", json={"bundlePath": str(bundle), "checkpoint": "cp"}
    )
    assert response.status_code == 400, response.text
    assert "descriptors.json" in response.json()["error"]
    assert (await client.get("/containers/r")).status_code == 404
    assert "r" not in runc_ids(daemon.daemon.config.state_dir)


_GOOD_METADATA = {
    "name": "cp", "tcp": False, "unixSockets": False, "shell": False,
    "timestamp": "2026-11-29T00:00:00.000000000+00:00",
}  # fmt: skip

#: checkpoint.json as a bundle's owner may write it: name -> (its text, what the 404 says).
_BAD_METADATA = {
    "empty object": ("{}", "missing required field 'name'"),
    "a field of the wrong type": (
        json.dumps({**_GOOD_METADATA, "tcp": 1}),
        "tcp: expected true or false, got the number 1",
    ),
    "a timestamp that is not one": (
        json.dumps({**_GOOD_METADATA, "timestamp": "yesterday"}),
        "is not an RFC 3339 timestamp",
    ),
    "nested deeply": ("[" * 50_000, "it is nested too deeply"),
}


@pytest.mark.parametrize("case", list(_BAD_METADATA))
async def test_metadata_of_the_wrong_shape_is_a_404_not_a_500(
    client: httpx.AsyncClient, tmp_path: Path, case: str
) -> None:
    """The bundle's owner writes checkpoint.json: a listing leaves such a checkpoint out, and a
    restore, an export or a load is a 404 that says why. Each was a 500 with a traceback (a
    cattrs error, a RecursionError, or the listing's sort on the timestamp)."""
    text, problem = _BAD_METADATA[case]
    bundle = tmp_path / "bundle"
    (bundle / "checkpoints" / "cp").mkdir(parents=True)
    (bundle / "config.json").write_text('{"root": {"path": "rootfs"}}')
    (bundle / "checkpoints" / "cp" / checkpoints.METADATA_NAME).write_text(text)
    with pytest.raises(NotFound, match=re.escape(problem)):
        checkpoints.load(bundle, "cp")
    listed = await client.get("/containers/x/checkpoint", params={"bundlePath": str(bundle)})
    assert (listed.status_code, listed.json()) == (200, [])
    for answer in (
        await client.get("/containers/x/checkpoint/cp/archive", params={"bundlePath": str(bundle)}),
        await client.post("/containers/x", json={"bundlePath": str(bundle), "checkpoint": "cp"}),
    ):
        assert answer.status_code == 404, answer.text
        assert problem in answer.json()["error"]


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


async def test_a_bundle_made_unreachable_after_the_start_over_the_api(
    daemon: RunningDaemon, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    """The bundle's owner replaces it with a loop of links once the container runs: the
    checkpoint routes that reach the bundle are a 400 naming it (they were a 500 with a
    traceback: beneath.open_directory's ELOOP), and the container runs on."""
    client = daemon.client
    bundle = make_bundle()
    await start_container(client, "c", bundle)
    bundle.rename(tmp_path / "moved")
    bundle.symlink_to(bundle)
    answers = [
        await client.post("/containers/c/checkpoint/new", json={}),
        await client.get("/containers/c/checkpoint"),
        await client.delete("/containers/c/checkpoint/new"),
        await client.get("/containers/c/checkpoint/new/archive"),
    ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": f"bundlePath {quoted(str(bundle))} cannot be opened: Too many levels of"
            " symbolic links"
        }
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


# --- config.json ------------------------------------------------------------------------------

SECRET = "root:$y$j9T$not-for-your-eyes:19000:0:99999:7:::\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every bundle, standing for /etc/shadow."""
    path = tmp_path / "shadow"
    path.write_text(SECRET)
    return path


def _config_variants(bundle: Path, secret: Path) -> dict[str, tuple[str, str]]:
    """Bad config.json files, each planted in a bundle of its own: name -> (bundle, message)."""
    variants: dict[str, tuple[str, str]] = {}

    def plant(name: str, message: str, make: Any) -> None:
        path = bundle.parent / f"{bundle.name}-{name}"
        (path / "rootfs").mkdir(parents=True)
        make(path / "config.json")
        variants[name] = (str(path), message)

    plant("link", "config.json is a symbolic link", lambda p: p.symlink_to(secret))
    plant("fifo", "config.json is not a regular file (it is a FIFO)", os.mkfifo)
    plant("directory", "config.json is not a regular file (it is a directory)", os.mkdir)
    plant("not-json", "config.json is not valid JSON: Expecting value at line 1, column 1",
          lambda p: p.write_text(SECRET))  # fmt: skip
    plant("array", "config.json is not a JSON object (it holds an array)",
          lambda p: p.write_text("[1]"))  # fmt: skip
    plant("null", "config.json is not a JSON object (it holds null)",
          lambda p: p.write_text("null"))  # fmt: skip
    plant("nan", "NaN and Infinity are not JSON", lambda p: p.write_text('{"a": NaN}'))
    plant("latin-1", "config.json is not UTF-8 text", lambda p: p.write_bytes(b'{"a": "\xe9"}'))
    # A bundle the kernel will not open (ELOOP here; EACCES and EIO come the same way).
    loop = bundle.parent / f"{bundle.name}-loop"
    loop.symlink_to(loop)
    variants["loop"] = (str(loop), "cannot be opened: Too many levels of symbolic links")
    return variants


@pytest.mark.deadline(10)
async def test_check_config_refuses_what_runc_must_not_read(
    tmp_path: Path, secret: Path, resolver: str
) -> None:
    for name, (path, message) in _config_variants(tmp_path / "bundle", secret).items():
        # In a thread given up at the deadline: a FIFO opened for reading would block for ever.
        with pytest.raises(InvalidRequest) as caught:
            await trio.to_thread.run_sync(check_config, Path(path), abandon_on_cancel=True)
        assert message in caught.value.message, name
        assert "for-your-eyes" not in caught.value.message
        assert "'r'" not in caught.value.message
        # A container that already runs is watched whatever its bundle holds now.
        assert read_bundle(Path(path)) == BundleConfig({}, memory_limited=True)


def test_check_config_reads_a_good_one_once(tmp_path: Path) -> None:
    path = tmp_path / "bundle"
    path.mkdir()
    (path / "config.json").write_text('{"process": {"args": ["sh"]}, "linux": {}}')
    first = check_config(path)
    assert attrs.evolve(first, unstartable=None) == BundleConfig(
        {"args": ["sh"]}, memory_limited=False, own_pid_namespace=False
    )
    assert check_config(path) is first  # cached by the file's identity
    replacement = tmp_path / "replacement.json"
    replacement.write_text('{"linux": {"resources": {"memory": {"limit": 8388608}}}}')
    os.replace(replacement, path / "config.json")
    limited = Resources(memory=MemoryResources(limit=8388608))
    replaced = attrs.evolve(check_config(path), unstartable=None)
    assert replaced == BundleConfig(
        {}, memory_limited=True, resources=limited, own_pid_namespace=False
    )


@pytest.mark.parametrize(
    ("namespaces", "own"),
    [
        ('[{"type": "pid"}, {"type": "mount"}]', True),
        ('[{"type": "pid", "path": "/proc/1/ns/pid"}]', False),  # joined: not made for it
        ('[{"type": "mount"}]', False),  # the host's
        ("null", False),
        ('"pid"', None),  # not as runc takes it: runc's state file says, at the exit
    ],
)
def test_check_config_says_whether_runc_makes_a_pid_namespace(
    tmp_path: Path, namespaces: str, own: bool | None
) -> None:
    """Whether the container gets a pid namespace of its own, whose init's death ends all of
    it (else the daemon ends what the init left: runc kill --all), is read with the rest."""
    (tmp_path / "config.json").write_text(f'{{"linux": {{"namespaces": {namespaces}}}}}')
    assert check_config(tmp_path).own_pid_namespace is own


def test_check_config_lets_no_link_through_its_cache(tmp_path: Path, secret: Path) -> None:
    """A config checked once, then put behind a link (the very file, unchanged, or a secret),
    is refused as any link is: the cache of a file's facts never stands for a link to it."""
    path = tmp_path / "bundle"
    path.mkdir()
    (path / "config.json").write_text('{"process": {"args": ["sh"]}}')
    first = check_config(path)
    # The directory moves, so the file keeps its identity (its ctime too); a link to it
    # takes its place.
    path.rename(tmp_path / "moved")
    path.mkdir()
    for target in (tmp_path / "moved" / "config.json", secret):
        (path / "config.json").symlink_to(target)
        with pytest.raises(InvalidRequest, match=r"config\.json is a symbolic link"):
            check_config(path)
        (path / "config.json").unlink()
    path.rmdir()
    (tmp_path / "moved").rename(path)
    assert check_config(path) is first  # the same file again


def test_runc_messages_lose_file_contents() -> None:
    quoted = "invalid character 'r' looking for beginning of value"
    assert without_file_contents("run", quoted) == (
        "runc could not parse the bundle's config.json: it is not valid JSON (runc's own"
        " message is not shown, because it quotes the file)"
    )
    assert "a JSON file" in without_file_contents("exec", "unexpected end of JSON input")
    typed = (
        "json: cannot unmarshal number 4294967296 into Go struct field User.process.user.uid"
        " of type uint32"
    )
    assert without_file_contents("run", typed) == (
        "json: cannot unmarshal a number into Go struct field User.process.user.uid of type uint32"
    )
    plain = "container with id exists: c"
    assert without_file_contents("run", plain) == plain


async def test_bad_config_json_over_the_api(
    spawn_daemon: Any, make_bundle: BundleFactory, secret: Path, plain_parent: None
) -> None:
    """Each a 400 that never quotes the file, nothing made; a FIFO does not hang the daemon
    (which runs in a process of its own here, so that a hang fails the test, not the suite)."""
    daemon = await spawn_daemon()
    for name, (path, message) in _config_variants(make_bundle(), secret).items():
        response = await daemon.client.post(f"/containers/{name}", json={"bundlePath": path})
        assert response.status_code == 400, (name, response.text)
        error = response.json()["error"]
        assert message in error, name
        assert "for-your-eyes" not in error and "'r'" not in error, name
        assert (await daemon.client.get(f"/containers/{name}")).status_code == 404
    assert runc_ids(daemon.state_dir) == []


async def test_runc_error_never_quotes_config_json(
    start_daemon: Any, make_bundle: BundleFactory, secret: Path, tmp_path: Path
) -> None:
    """The race the daemon cannot close: config.json swapped for a link after its check.

    A runc wrapper does the swap just before the real runc reads the bundle; runc then reads
    the secret and fails with Go's parse error, which quotes its first byte.
    """
    swapping = tmp_path / "swapping-runc"
    swapping.write_text(
        "#!/bin/sh\n"
        'previous=""\n'
        'for arg in "$@"; do\n'
        f'    [ "$previous" = --bundle ] && ln -sfn {secret} "$arg/config.json"\n'
        '    previous="$arg"\n'
        "done\n"
        'exec runc "$@"\n'
    )
    swapping.chmod(0o755)
    daemon: RunningDaemon = await start_daemon(runtime=str(swapping))
    response = await daemon.client.post(
        "/containers/swapped", json={"bundlePath": str(make_bundle())}
    )
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error == (
        "runc run failed: runc could not parse the bundle's config.json: it is not valid JSON"
        " (runc's own message is not shown, because it quotes the file)"
    )
    assert runc_ids(daemon.config.state_dir) == []
