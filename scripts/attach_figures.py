"""Records a second an attach session gets through, in the server's own work on the log: the
reader's pid filter (``logs._Filter.select``) and the decoding into messages
(``attach._messages``), on 1 MiB chunks of a log as the logger writes it. No daemon, no
container: the CPU of the session's part alone (best of 3).

    PYTHONPATH=. .venv/bin/python scripts/attach_figures.py [yes|lines|bytes]

``yes``: 2-byte lines, 2048 a read (``yes``'s); ``lines``: 80-byte lines; ``bytes``: every
byte value (records with ``raw``).
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
    source = logfile.LineSource("stdout", 1234)
    data = b"".join(source.records(READS[kind]) for _ in range(200))
    chunks, start = [], 0
    while start < len(data):  # whole records, up to 1 MiB: as logs.read_log gives them
        end = data.rfind(b"\n", start, start + logs.CHUNK) + 1
        chunks.append(data[start:end])
        start = end
    records = data.count(b"\n")
    wanted = logs._Filter(logs.LogQuery(pid=1234))
    select = decode = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for chunk in chunks:
            wanted.select(chunk)
        select = min(select, time.perf_counter() - began)
        position = attach._Position(attach.Cursor.at(0))
        began = time.perf_counter()
        for chunk in chunks:
            attach._messages(chunk, time.time_ns() - 10**9, position, False)
        decode = min(decode, time.perf_counter() - began)
    print(
        f"{kind}: {records} records ({len(data) / 1e6:.1f} MB of log): select"
        f" {records / select / 1e3:.0f}k records/s, messages {records / decode / 1e3:.0f}k"
        f" records/s, both {records / (select + decode) / 1e3:.0f}k records/s"
    )


if __name__ == "__main__":
    main()
