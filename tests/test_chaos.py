"""A chaos test: kill -9 of the server at random moments under a random mixed workload, and
after each kill the promises of docs/reliability.md checked against runc and the logs.

Slow, left out of ``make test``: ``make chaos`` runs it (``pytest tests/test_chaos.py -m
slow``). It is driven by one seeded ``random.Random``: the seed is printed, and
``CHAOS_SEED=<seed>`` replays that run (as far as the machine's timing lets a replay go);
``CHAOS_KILLS`` sets how many kills it makes (100 by default, about 90 s here).

The workload, on a few containers of one real daemon (the keeper, its server, its logger):
sleepers, printers (a numbered line every 50 ms), quick ones (exit 3 after a moment) and one
with ``restartPolicy`` always (exits 1 every second); the operations: start (and start
again), exec, pause, resume, a signal, a stop (``timeout=1``), a delete, a checkpoint with
``exit`` and its restore. A kill comes between two operations or in the middle of one (its
request sent, the kill during it). After each, once the next server serves:

- the daemon's containers and runc's list agree (a stopped container may be gone from runc:
  docs/api.md), each running one's pid is alive, and is the pid it had before the kill;
- a printer's log has each number once, in order, from 1 to its newest;
- every stopped container has an exit status; one its user stopped (a stop, a signal) is not
  restarted by its policy; one with a policy that its user did not stop is running or
  restarting; a paused one is paused still (runc's state);
- a deleted container leaves no cgroup;
- the interrupted request had its answer or a clean error (the connection closed, a 503),
  within a bound.
"""

from __future__ import annotations

import json
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from containerd_trio import cgroups

from .helpers import FOREVER, BundleFactory, DaemonProcess, pid_alive, runc, unix_client

KILLS = int(os.environ.get("CHAOS_KILLS", "100"))
SEED_ENV = "CHAOS_SEED"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("plain_parent")]

PRINTER = ("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; usleep 50000; done")
QUICK = ("sh", "-c", "sleep 0.5; exit 3")
FLAKY = ("sh", "-c", "sleep 1; exit 1")
#: The seconds any one request may take: a checkpoint of these small containers takes well
#: under one, a next server's start a second or two.
REQUEST_BOUND = 45.0
#: How long a disagreement may last before it is a fault: the daemon's view and runc's are
#: read one after the other, and a quick container may exit in between.
SETTLE = 5.0
#: How long after a request the kill cut its effect may still come: the stop's grace, and
#: the next server's start.
UNSETTLED = 3.0


@dataclass
class Slot:
    """One container id of the workload, and what the test knows of it."""

    container_id: str
    kind: str  # sleeper, printer, quick, always
    bundle: Path
    #: The container as last seen (None: absent); only compared with what comes next while
    #: ``known`` (no request with an unknown effect came in between).
    seen: dict[str, Any] | None = None
    known: bool = True
    #: Until this moment (trio's clock) what is seen is not ``known``: a request the kill cut
    #: may have its effect later (the next server finishes a stop or a delete it finds in its
    #: grace, 1 s here, and the exit a stop's signal brings is its user's).
    unsettled_until: float = 0.0
    #: For the container with a policy: its user stopped the run (a stop or a signal that
    #: answered 200), at this restartCount; None when not (or not known to be).
    stopped_at_count: int | None = None
    #: The checkpoint (taken with exit) the container's stopped run may be restored from.
    restorable: str | None = None
    #: A restore over the stopped container carried its run on: its log's numbers go on.
    checkpoints: int = 0


@dataclass
class Tally:
    operations: int = 0
    kills: int = 0
    interrupted: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)


class Fault(AssertionError):
    pass


def client_for(daemon: DaemonProcess) -> httpx.AsyncClient:
    return unix_client(daemon.socket, timeout=REQUEST_BOUND)


def runc_list(state_dir: Path) -> dict[str, dict[str, Any]]:
    out = runc(state_dir, "list", "--format", "json")
    return {entry["id"]: entry for entry in json.loads(out or b"null") or []}


def init_pid(container: dict[str, Any]) -> int | None:
    processes = container.get("processes") or []
    return int(processes[0]["pid"]) if processes else None


class Chaos:
    def __init__(
        self, daemon: DaemonProcess, slots: list[Slot], rng: random.Random, seed: int
    ) -> None:
        self.daemon = daemon
        self.slots = slots
        self.rng = rng
        self.seed = seed
        self.tally = Tally()
        self.client = client_for(daemon)
        self.steps: list[str] = []  # what was done, for a failure's message

    def note(self, text: str) -> None:
        self.steps.append(text)
        del self.steps[:-40]

    def fault(self, text: str) -> Fault:
        return Fault(f"seed {self.seed}: {text}\nlast steps:\n  " + "\n  ".join(self.steps[-25:]))

    # --- operations --------------------------------------------------------------------

    def operations(self, slot: Slot) -> list[str]:
        """What may be asked of the slot's container as last seen (the container may have
        moved on since: a refusal is an answer too)."""
        seen = slot.seen
        status = seen["state"]["status"] if seen else "absent"
        ops = ["start"] if status in ("absent", "stopped") else []
        if status == "stopped":
            ops += ["start-again", "delete"]
            if slot.restorable:
                ops += ["restore"] * 6
        if status in ("running", "paused"):
            ops += ["signal", "stop", "delete", "pause" if status == "running" else "resume"]
        if status == "running":
            ops += ["exec", "exec", "pause"]
            if slot.kind in ("sleeper", "printer"):
                ops += ["checkpoint"] * 3  # the dump and its restore: the longest commands
        return ops

    def request(self, slot: Slot, op: str) -> Callable[[], Awaitable[httpx.Response]]:
        client, cid = self.client, slot.container_id
        url = f"/containers/{cid}"
        body: dict[str, Any] = {"bundlePath": str(slot.bundle)}
        if slot.kind == "always":
            body["restartPolicy"] = {"name": "always"}
        if op == "start":
            return lambda: client.post(url, json=body)
        if op == "start-again":
            return lambda: client.post(f"{url}/start")
        if op == "restore":
            body["checkpoint"] = slot.restorable
            return lambda: client.post(url, json=body)
        if op == "exec":
            args = ["sh", "-c", "echo exec; sleep 0.2"]
            return lambda: client.put(f"{url}/processes", json={"args": args})
        if op in ("pause", "resume"):
            status = "paused" if op == "pause" else "running"
            return lambda: client.patch(url, json={"status": status})
        if op == "signal":
            # USR1: pid 1 of a namespace with no handler ignores it (the container runs on),
            # and a PATCH signal is its user's stop for the restart policy all the same.
            return lambda: client.patch(url, json={"signal": "USR1"})
        if op == "stop":
            return lambda: client.post(f"{url}/stop", params={"timeout": "1"})
        if op == "delete":
            return lambda: client.delete(url, params={"timeout": "1"})
        assert op == "checkpoint"
        slot.checkpoints += 1
        name = f"{slot.container_id}-{slot.checkpoints}"  # the bundle is shared
        return lambda: client.post(f"{url}/checkpoint/{name}", json={"exit": True})

    def answered(self, slot: Slot, op: str, response: httpx.Response) -> None:
        """Fold an answer into what the test knows; refuse the answers no promise allows."""
        code = response.status_code
        key = f"{op} {code}"
        if code >= 400:  # which refusal: its words without the container's name
            key += " " + response.text.replace(slot.container_id, "ID")[:90]
        self.tally.answers[key] = self.tally.answers.get(key, 0) + 1
        self.note(f"{slot.container_id}: {op} -> {code} {response.text[:160]}")
        if code >= 500 and code != 503:
            raise self.fault(f"{op} of {slot.container_id} answered {code}: {response.text}")
        if code >= 300:
            return  # refused: the container is as it was, or moved on by itself
        # What the container is now, from the answer (each of these answers the container).
        if op == "delete":
            slot.seen = None
        elif op == "checkpoint":
            slot.known = False  # stopped by the dump: its exit is for the next look to see
        elif op != "exec":
            slot.seen = response.json()
        if op in ("start", "start-again", "restore"):
            slot.stopped_at_count = None
            slot.restorable = None
        elif op in ("stop", "signal") and slot.kind == "always":
            slot.stopped_at_count = int(response.json().get("restartCount", 0))
        elif op == "checkpoint":
            slot.restorable = response.json()["name"]
        elif op == "delete":
            slot.restorable = None
            slot.stopped_at_count = None

    async def perform(self, slot: Slot, op: str) -> None:
        self.tally.operations += 1
        with trio.fail_after(REQUEST_BOUND):
            response = await self.request(slot, op)()
        self.answered(slot, op, response)
        await self.look(slot)

    async def perform_killed(self, slot: Slot, op: str) -> None:
        """The request sent, and the server killed during it (or just after its answer):
        an answer, a closed connection or a 503, never a hang."""
        self.tally.operations += 1
        send = self.request(slot, op)
        outcome: list[httpx.Response | str] = []

        async def ask() -> None:
            try:
                outcome.append(await send())
            except httpx.TransportError as exc:  # the connection closed under it
                outcome.append(type(exc).__name__)

        # Most requests answer within tens of ms (a stop or a delete within its 1 s grace,
        # a checkpoint within a few hundred): kills early in one are the likelier.
        delay = min(self.rng.expovariate(1 / 0.03), 1.5)
        with trio.fail_after(REQUEST_BOUND):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                await trio.sleep(delay)
                await self.kill(f"during {op} of {slot.container_id}, {delay:.3f} s in")
        (result,) = outcome
        if isinstance(result, str) or result.status_code == 503:
            word = result if isinstance(result, str) else "503"
            self.tally.interrupted[word] = self.tally.interrupted.get(word, 0) + 1
            self.note(f"{slot.container_id}: {op} cut: {word}")
            slot.known = False  # its effect, if any, is the next server's to show
            slot.unsettled_until = trio.current_time() + UNSETTLED
            if op not in ("exec", "pause", "resume"):
                # A stop or a signal may or may not have come; a start may have armed the
                # policy again, a delete removed the container.
                slot.stopped_at_count = None
            if op in ("checkpoint", "start", "start-again", "restore", "delete"):
                slot.restorable = None
        else:
            self.answered(slot, op, result)

    async def kill(self, why: str) -> None:
        self.tally.kills += 1
        self.note(f"kill -9 of the server {why}")
        await self.daemon.kill_server()
        await self.client.aclose()
        self.client = client_for(self.daemon)

    # --- what is seen, and the promises ------------------------------------------------

    async def look(self, slot: Slot) -> None:
        """Read the slot's container again; what it is now is what the next check compares
        with."""
        with trio.fail_after(REQUEST_BOUND):
            response = await self.client.get(f"/containers/{slot.container_id}")
        if response.status_code == 404:
            slot.seen = None
        else:
            assert response.status_code == 200, response.text
            slot.seen = response.json()
        slot.known = trio.current_time() >= slot.unsettled_until

    async def check(self) -> None:
        """Every promise, given SETTLE seconds to hold (two views read one after the other
        may disagree for a moment); the last failure if it never does."""
        failure: Fault | None = None
        with trio.move_on_after(SETTLE):
            while True:
                try:
                    listed = await self.state()
                    self.check_agreement(listed)
                    self.check_slots(listed)
                    self.check_cgroups(listed)
                    await self.check_logs(listed)
                except Fault as exc:
                    failure = exc
                    await trio.sleep(0.2)
                    continue
                failure = None
                break
        if failure is not None:
            raise failure
        for slot in self.slots:
            slot.seen = listed.get(slot.container_id)
            slot.known = trio.current_time() >= slot.unsettled_until

    async def state(self) -> dict[str, dict[str, Any]]:
        with trio.fail_after(REQUEST_BOUND):
            response = await self.client.get("/state")
        assert response.status_code == 200, response.text
        return {c["id"]: c for c in response.json()["containers"]}

    def check_agreement(self, listed: dict[str, dict[str, Any]]) -> None:
        theirs = runc_list(self.daemon.state_dir)
        for cid, found in theirs.items():
            if cid not in listed:
                raise self.fault(f"runc has {cid} ({found['status']}) and the daemon no record")
        for cid, container in listed.items():
            status = container["state"]["status"]
            entry = theirs.get(cid)
            if status == "stopped":
                if not isinstance(container["state"].get("exitStatus"), int):
                    raise self.fault(f"{cid} is stopped with no exit status: {container}")
                if entry is not None and entry["status"] != "stopped":
                    raise self.fault(f"{cid} is stopped, runc has it {entry['status']}")
                continue
            pid = init_pid(container)
            if entry is None:
                raise self.fault(f"the daemon lists {cid} {status}, runc has no such container")
            if entry["status"] != status or entry["pid"] != pid:
                raise self.fault(
                    f"{cid}: the daemon says {status} pid {pid}, "
                    f"runc {entry['status']} pid {entry['pid']}"
                )
            if pid is None or not pid_alive(pid):
                raise self.fault(f"{cid} is listed {status} with pid {pid}, which is not alive")

    def check_slots(self, listed: dict[str, dict[str, Any]]) -> None:
        for slot in self.slots:
            now = listed.get(slot.container_id)
            if slot.kind == "always" and slot.stopped_at_count is not None:
                # Its user stopped it (answered): never restarted, across any kill. (Its run
                # may go on: USR1 does not end it, and a paused one keeps it pending.)
                if now is None:
                    raise self.fault(f"{slot.container_id}, stopped by its user, is gone")
                if (
                    now["state"].get("restarting")
                    or now.get("restartCount", 0) != slot.stopped_at_count
                ):
                    raise self.fault(
                        f"{slot.container_id}, stopped by its user at restartCount "
                        f"{slot.stopped_at_count}, was restarted: {now}"
                    )
            elif slot.kind == "always" and now is not None and slot.known:
                state = now["state"]
                user = slot.seen is not None and slot.seen["state"]["status"] == "stopped"
                if state["status"] == "stopped" and not state.get("restarting") and not user:
                    raise self.fault(
                        f"{slot.container_id} (restartPolicy always, not stopped by its "
                        f"user) is stopped and not restarting: {now}"
                    )
            if not slot.known:
                continue
            before = slot.seen
            if before is None:
                if now is not None:
                    raise self.fault(f"{slot.container_id}, absent, is back: {now}")
                continue
            was = before["state"]["status"]
            if now is None:
                raise self.fault(f"{slot.container_id} ({was}) is gone: nobody deleted it")
            status = now["state"]["status"]
            same = status == was and init_pid(now) == init_pid(before)
            # Nothing ends a paused container, nor a running sleeper or printer, but a
            # request; a quick one may end by itself (and nothing starts it again).
            if was == "paused" or (was == "running" and slot.kind in ("sleeper", "printer")):
                allowed = same
            elif was == "running" and slot.kind == "quick":
                allowed = same or status == "stopped"
            else:
                allowed = was != "stopped" or slot.kind == "always" or status == "stopped"
            if not allowed:
                raise self.fault(
                    f"{slot.container_id} was {was} (pid {init_pid(before)}), nobody asked for "
                    f"anything else, and now it is {status} (pid {init_pid(now)}): {now}"
                )

    def check_cgroups(self, listed: dict[str, dict[str, Any]]) -> None:
        absent = [s.container_id for s in self.slots if s.container_id not in listed]
        for _controllers, directory in cgroups.process_cgroups("self"):
            for cid in absent:
                if (Path(directory) / cid).exists():
                    raise self.fault(f"{cid} is deleted and its cgroup {directory}/{cid} stays")

    async def check_logs(self, listed: dict[str, dict[str, Any]]) -> None:
        for slot in self.slots:
            if slot.kind != "printer" or slot.container_id not in listed:
                continue
            with trio.fail_after(REQUEST_BOUND):
                response = await self.client.get(f"/containers/{slot.container_id}/logs")
            assert response.status_code == 200, response.text
            numbered = [
                (record["pid"], int(record["data"]))
                for line in response.text.splitlines()
                if (record := json.loads(line))["data"].strip().isdigit()
            ]
            numbers = [number for _, number in numbered]
            if (out_of_place := first_out_of_place(numbered)) is not None:
                raise self.fault(
                    f"{slot.container_id}'s log has a gap or a repeat at line {out_of_place}: "
                    f"{numbers[max(0, out_of_place - 3) : out_of_place + 3]} "
                    f"({len(numbers)} lines)"
                )

    # --- the run -----------------------------------------------------------------------

    async def run(self, kills: int) -> None:
        await self.check()
        while self.tally.kills < kills:
            for _ in range(self.rng.randint(1, 4)):
                slot = self.rng.choice(self.slots)
                op = self.rng.choice(self.operations(slot))
                if self.rng.random() < 0.35 and self.tally.kills < kills:
                    await self.perform_killed(slot, op)
                    await self.check()
                else:
                    await self.perform(slot, op)
            if self.rng.random() < 0.5 and self.tally.kills < kills:
                await trio.sleep(self.rng.uniform(0.0, 0.3))
                await self.kill("between operations")
                await self.check()
        await self.check()


@pytest.mark.deadline(90 + 15 * KILLS)
async def test_chaos_of_server_kills(
    spawn_daemon: Callable[..., Any], make_bundle: BundleFactory, tmp_path: Path
) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))
    print(f"\nchaos: {SEED_ENV}={seed} CHAOS_KILLS={KILLS}")
    rng = random.Random(seed)
    daemon: DaemonProcess = await spawn_daemon()
    bundles = {
        "sleeper": make_bundle(FOREVER),
        "printer": make_bundle(PRINTER),
        "quick": make_bundle(QUICK),
        "always": make_bundle(FLAKY),
    }
    kinds = ["sleeper", "sleeper", "printer", "printer", "quick", "always"]
    slots = [Slot(f"{kind}-{n}", kind, bundles[kind]) for n, kind in enumerate(kinds)]
    chaos = Chaos(daemon, slots, rng, seed)
    try:
        for slot in slots:
            await chaos.perform(slot, "start")
        await chaos.run(KILLS)
    except BaseException:
        # The daemon's own words on what it did (every server's), for the fault's story.
        (tmp_path / "daemon.log").write_bytes(daemon.log)
        print(f"chaos: the daemon's log is in {tmp_path / 'daemon.log'}")
        raise
    finally:
        tally = chaos.tally
        print(
            f"chaos: seed {seed}: {tally.kills} kills, {tally.operations} operations; "
            f"cut by the kill: {tally.interrupted}; answers: {dict(sorted(tally.answers.items()))}"
        )
        await chaos.client.aclose()
    # The daemon stops as it should after all that: every container deleted, nothing left.
    assert await daemon.signal_and_wait(signal.SIGTERM) == 0
    assert runc_list(daemon.state_dir) == {}


def first_out_of_place(numbered: list[tuple[int, int]]) -> int | None:
    """The index of the first printer line out of place in a log of (pid, number) records,
    or None: each run counts from 1, one line after the other; a start again's run (the
    same log since 2026-12-06) counts from 1 again under its own pid, and a restore's
    carries its count on under its new pid. A lost tail of a run before a start again
    cannot be told, as before, when the start again began a new log."""
    for index, (pid, number) in enumerate(numbered):
        if index == 0:
            if number != 1:
                return 0
            continue
        last_pid, last = numbered[index - 1]
        if number == last + 1 or (pid != last_pid and number == 1):
            continue
        return index
    return None
