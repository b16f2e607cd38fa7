"""What the daemon keeps on disk about its containers, so that a restart can adopt them.

One append-only journal, ``<state-dir>/containers.journal``: a line ``{"put": record}`` each time
a container changes (it starts, a process starts or exits, it pauses, it stops) and
``{"remove": id}`` when it is deleted. A record holds the container as clients see it, plus the
start time of each live process (a pid alone could have been reused while the daemon was down).

Why a journal and not a file per container: on ext4, creating and renaming a file costs about
a third of a millisecond, two or three times per container, which was a tenth of everything the
daemon spent on a start; an append costs a few microseconds. When the journal grows to several
times what is live it is rewritten with the live records only, atomically by rename.

A start is recorded before runc runs (status ``created``), so that the next server knows to
roll it back if the daemon dies in the middle (and to put back the stopped container the
start was to replace, which the record holds). So is a change of limits (``updating``): the
next server makes it again. Lines land whole or wait to be retried whole
(:class:`~containerd_trio.appendfile.AppendFile`): a full disk delays the journal, it never
tears it, so a removed container cannot come back.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import attrs

from .appendfile import AppendFile
from .convert import converter, dump_json, unstructure
from .model import ContainerInfo, Resources

log = logging.getLogger(__name__)

#: Rewrite the journal once it holds this many times more lines than live records (and more
#: than a floor, so that a few containers do not mean constant rewrites).
_COMPACT_FACTOR = 4
_COMPACT_FLOOR = 1000
#: Room kept allocated ahead of the journal's end (see AppendFile): a few thousand records.
_RESERVE = 1024 * 1024


@attrs.frozen
class ProcessStart:
    pid: int
    #: Clock ticks since boot (see :func:`containerd_trio.procfs.start_time`).
    start_time: int
    #: The name the keeper knows the process by (None in records of older daemons).
    key: str | None = None


@attrs.frozen
class ContainerRecord:
    container: ContainerInfo
    start_times: list[ProcessStart] = attrs.Factory(list)
    #: A delete began: if the server dies before it ends, the next one finishes it.
    deleting: bool = False
    #: When that delete's grace ends (:func:`~.timestamps.boot_ns`): the next server kills
    #: what still runs then, not at once (or the end of its user's stop's grace, if that
    #: comes first: its SIGKILL was due then). None in records of older daemons. Or, not
    #: being deleted, when the grace of its user's stop under way ends (``stopped_by_user``:
    #: the first to end; none for a stop without SIGKILL): the next server sends that stop's
    #: SIGKILL then (None in records of older daemons, whose next server sent none).
    grace_ends_ns: int | None = None
    #: A start in place of this stopped container is under way: if the server dies before
    #: it ends, the next one rolls it back and puts this one back.
    replaces: ContainerInfo | None = None
    #: A restore into a cgroup of its own (a migration's), not the bundle's: where a roll
    #: back after a crash finds the cgroups to remove.
    cgroups_path: str | None = None
    #: A change of limits under way (``runc update``), recorded before runc runs: if the
    #: server dies before it ends, what runc did is unknown (runc may still be at it, or be
    #: done, the limits in force), and the next server makes it again.
    updating: Resources | None = None
    #: A restart of its restart policy's is due (it waits out its delay, or it is the
    #: start of one): a server that dies before it is made leaves it to the next one. None,
    #: not False, when not: left out of the line, as the other marks are.
    restarting: bool | None = None
    #: A stopped container's last init, by pid: its view lists no process once it stopped,
    #: and the next server's wait answers the pid as the server that saw the exit did. None
    #: while it runs, and for an exit no server saw.
    ended_pid: int | None = None
    #: The OOM kills of its run's memory cgroup (its ``oom_kill`` counter) reported so far:
    #: the next server reports those counted since, which came while no server watched (a
    #: kill -9 of the server, a reload). None where no count is watched, and in records of
    #: older daemons (the next server then reports only the kills after it adopts).
    oom_kills: int | None = None
    #: The CPU limits its user set (``Container.user_cpu``: "quota", "period"), which hold
    #: ``cpu.cpus`` off; not in its view, whose ``resources`` has the bundle's too. None when
    #: none, and in records of older daemons (none then: a cpu.cpus is taken).
    user_cpu: list[str] | None = None
    #: ... and that of the stopped container a start replaces (``replaces``), for its return.
    replaces_user_cpu: list[str] | None = None
    #: Its user stopped this run (``Container.stopped_by_user``: a stop, a signal of its
    #: user's), which runs on: the next server does not restart the exit it brings, as
    #: docker's HasBeenManuallyStopped is on disk before its signal. None, not False, when
    #: not (and in records of older daemons, whose next server restarted it).
    stopped_by_user: bool | None = None
    #: Being deleted with autoRemove: whether the delete is autoRemove's removal at its exit
    #: (true) or its user's DELETE (false: one that came before the exit, which it brought),
    #: for the next server that finishes it to say whose it was (its ``delete``, and whether
    #: its waits are answered after it). None when not being deleted or without autoRemove,
    #: and in records of older daemons (the next server then takes a stopped one's for
    #: autoRemove's).
    removed_at_exit: bool | None = None


def record_user_cpu(record: ContainerRecord) -> tuple[str, ...]:
    """The record's :attr:`ContainerRecord.user_cpu`, as ``Container.user_cpu``."""
    return tuple(record.user_cpu or ())


def record_replaced_user_cpu(record: ContainerRecord) -> tuple[str, ...]:
    """The record's :attr:`ContainerRecord.replaces_user_cpu`, as ``Container.user_cpu``."""
    return tuple(record.replaces_user_cpu or ())


def _starts_json(starts: list[ProcessStart]) -> bytes:
    """``dump_json(unstructure(starts))``, the same bytes, by hand: each save encodes them (two
    per start), and the converter's way took a few microseconds for one process."""
    if not starts:
        return b"[]"
    return b"[%b]" % b",".join(
        [
            b'{"pid":%d,"startTime":%d%b}'
            % (
                start.pid,
                start.start_time,
                b"" if start.key is None else b',"key":%b' % dump_json(start.key),
            )
            for start in starts
        ]
    )


class RecordJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        #: id -> the record's journal line, in the order the containers were first put.
        self._live: dict[str, bytes] = {}
        self._lines = 0
        self._file = AppendFile(str(path), reserve=_RESERVE)

    def load(self) -> list[ContainerRecord]:
        """Replay the journal: the last record of every container not removed, oldest first.

        Then start a fresh journal holding just those (or, on a full disk, go on with this one).
        """
        self._live.clear()
        try:
            with open(self.path, "rb") as journal:
                for line in journal:
                    self._replay(line)
        except FileNotFoundError:
            pass
        records = []
        for container_id, line in list(self._live.items()):
            try:
                records.append(converter.structure(json.loads(line)["put"], ContainerRecord))
            except Exception as exc:  # a record we cannot read must not stop the daemon
                log.error("skipping the unreadable record of container %s: %s", container_id, exc)
                del self._live[container_id]
        records.sort(key=lambda record: record.container.created_at)
        self._rewrite()
        return records

    def _replay(self, line: bytes) -> None:
        if not line.endswith(b"\n"):
            return  # torn by a crash mid-write
        try:
            entry = json.loads(line)
            if "put" in entry:
                container_id = str(entry["put"]["container"]["id"])
                self._live.pop(container_id, None)  # keep first-put order for re-puts too
                self._live[container_id] = line.rstrip(b"\n")
            else:
                self._live.pop(str(entry["remove"]), None)
        except (ValueError, KeyError, TypeError):
            pass

    def put(self, record: ContainerRecord) -> None:
        self.put_encoded(
            record.container.id,
            dump_json(unstructure(record.container)),
            record.start_times,
            deleting=record.deleting,
            grace_ends_ns=record.grace_ends_ns,
            replaces=None if record.replaces is None else dump_json(unstructure(record.replaces)),
            cgroups_path=record.cgroups_path,
            updating=None if record.updating is None else dump_json(unstructure(record.updating)),
            restarting=bool(record.restarting),
            ended_pid=record.ended_pid,
            user_cpu=tuple(record.user_cpu or ()),
            replaces_user_cpu=tuple(record.replaces_user_cpu or ()),
            stopped_by_user=bool(record.stopped_by_user),
            removed_at_exit=record.removed_at_exit,
        )

    def put_encoded(
        self,
        container_id: str,
        container: bytes,
        start_times: list[ProcessStart],
        *,
        deleting: bool,
        grace_ends_ns: int | None = None,
        replaces: bytes | None = None,
        cgroups_path: str | None = None,
        updating: bytes | None = None,
        restarting: bool = False,
        ended_pid: int | None = None,
        oom_kills: int | None = None,
        user_cpu: tuple[str, ...] = (),
        replaces_user_cpu: tuple[str, ...] = (),
        stopped_by_user: bool = False,
        removed_at_exit: bool | None = None,
    ) -> None:
        """:meth:`put` of a record whose container view is encoded already (the API's JSON of
        it, which the container keeps: see ``Container.info_json``). The line is the one
        :meth:`put` would write (tests/test_units.py checks it against ContainerRecord's own
        encoding)."""
        starts = _starts_json(start_times)
        line = b'{"put":{"container":%b,"startTimes":%b,"deleting":%b%b%b%b%b%b%b%b%b%b%b%b}}' % (
            container,
            starts,
            b"true" if deleting else b"false",
            b"" if grace_ends_ns is None else b',"graceEndsNs":%d' % grace_ends_ns,
            b"" if replaces is None else b',"replaces":' + replaces,
            b"" if cgroups_path is None else b',"cgroupsPath":' + dump_json(cgroups_path),
            b"" if updating is None else b',"updating":' + updating,
            b',"restarting":true' if restarting else b"",
            b"" if ended_pid is None else b',"endedPid":%d' % ended_pid,
            b"" if oom_kills is None else b',"oomKills":%d' % oom_kills,
            b',"userCpu":' + dump_json(list(user_cpu)) if user_cpu else b"",
            b',"replacesUserCpu":' + dump_json(list(replaces_user_cpu))
            if replaces_user_cpu
            else b"",
            b',"stoppedByUser":true' if stopped_by_user else b"",
            b"" if removed_at_exit is None else b',"removedAtExit":%b' % dump_json(removed_at_exit),
        )
        self._live[container_id] = line
        self._append(line)

    def remove(self, container_id: str) -> None:
        if self._live.pop(container_id, None) is not None:
            self._append(json.dumps({"remove": container_id}).encode())

    @property
    def holding(self) -> bool:
        """Lines wait for room on the disk (see :meth:`retry`)."""
        return self._file.holding

    def retry(self) -> None:
        if self._file.flush():
            log.warning("the container journal %s is written again", self.path)

    def _append(self, line: bytes) -> None:
        was_holding = self._file.holding
        if not self._file.append(line + b"\n"):
            if not was_holding:
                # The containers run on; only their adoption after a crash is at stake, and
                # the line is retried whole.
                log.error("cannot write the container journal %s: %s", self.path, self._file.error)
            return
        self._lines += 1
        if self._lines > max(_COMPACT_FLOOR, _COMPACT_FACTOR * len(self._live)):
            self._rewrite()

    def _rewrite(self) -> None:
        if self._file.holding:
            return  # the disk is full: compaction can wait
        try:
            self._file.replace(b"".join(line + b"\n" for line in self._live.values()))
        except OSError as exc:
            log.warning("cannot compact the container journal %s: %s", self.path, exc.strerror)
            self._file.open()
            return
        self._lines = len(self._live)

    def close(self) -> None:
        self._file.close()
