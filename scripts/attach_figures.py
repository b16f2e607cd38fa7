"""Records a second an attach session gets through, in the server's own work on the log: the
reader's selection of the process's records and the decoding into messages
(``attach._messages``), on 1 MiB chunks of a log as the logger writes it, with the query an
attach makes (its pid, and since its process's start, which the supervisor adds). No daemon,
no container: the CPU of the session's part alone (best of 3), cursored (as ``ctr-trio`` is).

    PYTHONPATH=. .venv/bin/python scripts/attach_figures.py [yes|lines|bytes]

``yes``: 2-byte lines, 2048 a read (``yes``'s); ``lines``: 80-byte lines; ``bytes``: every
byte value (records with ``raw``). Code from before 2026-12-06 15:00 UTC (whose reader
selected the records, line by line once the query had a since) is measured the same way:
``PYTHONPATH=OTHER_CHECKOUT``.
"""

from __future__ import annotations

import sys
import time

from containerd_trio import attach, logfile, logs

READS = {
    "yes": b"y\n" * 2048,
    "lines": b"some output line of eighty characters, such as a build's log prints out  0123\n"
    * 50,
    "bytes": bytes(range(256)) * 16,
}


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "yes"
    began_ns = time.time_ns() - 10**9  # the process's start: a second before its records
    source = logfile.LineSource("stdout", 1234)
    data = b"".join(source.records(READS[kind]) for _ in range(200))
    chunks, start = [], 0
    while start < len(data):  # whole records, up to 1 MiB: as logs.read_log gives them
        end = data.rfind(b"\n", start, start + logs.CHUNK) + 1
        chunks.append(data[start:end])
        start = end
    records = data.count(b"\n")
    query = logs.LogQuery(pid=1234, since_ns=began_ns)
    selection = getattr(attach, "_Selection", None)
    if selection is not None:  # the session selects (Supervisor.process_output)
        wanted = logs._Filter(logs.LogQuery())
        extra: tuple[object, ...] = (None, selection.of(query))
    else:  # the reader selects
        wanted = logs._Filter(query)
        extra = ()
    select = decode = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        selected = [wanted.select(chunk) for chunk in chunks]
        select = min(select, time.perf_counter() - began)
        position = attach._Position(attach.Cursor.at(0))
        began = time.perf_counter()
        for chunk in selected:
            attach._messages(chunk, time.time_ns() - 10**9, position, True, *extra)  # type: ignore[arg-type]
        decode = min(decode, time.perf_counter() - began)
    reader = "none" if wanted.everything else f"{records / select / 1e6:.2f}M records/s"
    print(
        f"{kind}: {records} records ({len(data) / 1e6:.1f} MB of log): reader's selection"
        f" {reader}, session {records / decode / 1e6:.2f}M records/s, both"
        f" {records / (select + decode) / 1e6:.2f}M records/s"
    )


if __name__ == "__main__":
    main()
