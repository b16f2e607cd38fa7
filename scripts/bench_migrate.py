#!/usr/bin/env python3
"""Downtime and bytes of moving a container that touched 256 MiB between two daemons.

    flock /tmp/containerd-trio-test.lock .venv/bin/python scripts/bench_migrate.py [--runs 3]

(``make bench-migrate``.) Two daemons run on this machine as two hosts would: each its own
process tree (``python -m containerd_trio``), state dir, bundle dir and unix socket. A static C
program (scripts/memtouch.c) fills 256 MiB of heap, then keeps writing a word in each page of
4 MiB; on "host A" it is moved with ``POST /containers/{id}/migrate`` (``withBundle``, to
host B's bundle dir), and on B it must count on from A's last number, with no page wrong. Each
run prints the steps as the daemon reported them; the table has the medians.

Pre-copy rounds are asked for too: where the kernel lacks dirty-page tracking the daemon refuses
them before anything starts (409), and the reason is printed instead of a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from containerd_trio.busybox import make_busybox_bundle  # noqa: E402
from containerd_trio.client.http import ApiError, Client  # noqa: E402

MIB = 1 << 20


class Host:
    """One daemon: its state dir, bundle dir and socket."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.state = root / name / "state"
        self.bundles = root / name / "bundles"
        self.bundles.mkdir(parents=True)
        self.socket = root / name / "api.sock"
        self.log = open(root / name / "daemon.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "containerd_trio", "--listen", f"unix:{self.socket}",
             "--state-dir", str(self.state), "--shutdown-timeout", "1"],
            stderr=self.log, cwd=REPO,
        )  # fmt: skip
        self.client = Client(f"unix:{self.socket}", retry_for=30)
        self.client.state()  # retried until it serves

    @property
    def address(self) -> str:
        return f"unix:{self.socket}"

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def build_memtouch(directory: Path) -> Path:
    binary = directory / "memtouch"
    source = REPO / "scripts" / "memtouch.c"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def numbers(client: Client, container_id: str) -> list[int]:
    with client.logs(container_id) as records:
        text = "".join(record["data"] for record in records)
    if "corrupt" in text:
        raise SystemExit(f"memory came back wrong: {text[-200:]!r}")
    return [int(n) for n in re.findall(r"^(\d+)$", text, re.MULTILINE)]


def wait_for(client: Client, container_id: str, at_least: int, seconds: float = 60) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        seen = numbers(client, container_id)
        if seen and seen[-1] >= at_least:
            return seen
        if time.monotonic() > deadline:
            raise SystemExit(f"{container_id} did not count to {at_least}: {seen[-3:]}")
        time.sleep(0.05)


def move(a: Host, b: Host, bundle: Path, run: int, pre_copy: int) -> dict[str, Any] | str:
    """One move of a fresh container from A to B: the daemon's done step, or why not."""
    container_id = f"memtouch-{run}"
    a.client.start(container_id, str(bundle))
    wait_for(a.client, container_id, 5)
    target_bundle = b.bundles / container_id
    steps: list[dict[str, Any]] = []
    try:
        with a.client.migrate(
            container_id, b.address, pre_copy=pre_copy, with_bundle=True,
            target_bundle_path=str(target_bundle),
        ) as answer:  # fmt: skip
            for step in answer:
                steps.append(dict(step))
    except ApiError as exc:
        a.client.delete(container_id, timeout=0)
        return f"{exc.status}: {exc.message}"
    last = steps[-1]
    if last["step"] != "done":
        raise SystemExit(f"the move failed: {json.dumps(last)}")
    first = numbers(b.client, container_id) or [0]
    after = wait_for(b.client, container_id, first[0] + 3)
    # B's log starts where A's ended: past 5 (a fresh start prints 1), every round once.
    if after[0] <= 5 or after != list(range(after[0], after[0] + len(after))):
        raise SystemExit(f"the count did not go on: {after[:5]}")
    for step in steps:
        shown = {k: v for k, v in step.items() if k != "container"}
        print(f"  run {run}: {json.dumps(shown)}")
    b.client.delete(container_id, timeout=0)
    shutil.rmtree(target_bundle)
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="moves per mode (median shown)")
    parser.add_argument("--mib", type=int, default=256, help="memory the program touches")
    parser.add_argument("--hot-mib", type=int, default=4, help="memory it keeps writing")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as temporary:
        root = Path(temporary)
        memtouch = build_memtouch(root)
        a, b = Host(root, "host-a"), Host(root, "host-b")
        try:
            bundle = make_busybox_bundle(
                a.bundles / "memtouch",
                ["/bin/memtouch", str(arguments.mib), str(arguments.hot_mib)],
            )
            shutil.copy(memtouch, bundle / "rootfs" / "bin" / "memtouch")
            os.chmod(bundle / "rootfs" / "bin" / "memtouch", 0o755)
            rows = []
            for pre_copy in (0, 1, 2):
                results = [
                    move(a, b, bundle, pre_copy * 100 + run, pre_copy)
                    for run in range(1, arguments.runs + 1)
                ]
                refused = [r for r in results if isinstance(r, str)]
                if refused:
                    rows.append((pre_copy, None, None, None, refused[0]))
                    continue
                done = [r for r in results if not isinstance(r, str)]
                rows.append((
                    pre_copy,
                    statistics.median(d["downtime"] for d in done),
                    statistics.median(d["seconds"] for d in done),
                    statistics.median(d["bytes"] for d in done),
                    None,
                ))  # fmt: skip
        finally:
            a.stop()
            b.stop()
    print(f"\n{arguments.mib} MiB touched, {arguments.hot_mib} MiB kept hot; medians of"
          f" {arguments.runs} moves")  # fmt: skip
    print(f"{'pre-copy':>8} {'downtime':>10} {'whole move':>11} {'sent':>11}")
    for pre_copy, downtime, seconds, sent, refused in rows:
        if refused is not None:
            print(f"{pre_copy:>8}   refused: {refused}")
        else:
            assert downtime is not None and seconds is not None and sent is not None
            print(f"{pre_copy:>8} {downtime:>9.3f}s {seconds:>10.3f}s {sent / MIB:>7.1f} MiB")


if __name__ == "__main__":
    main()
