"""Tar archives as streams of bytes, in both directions, without holding an archive in memory.

The writing side is small: headers come from the standard library (``TarInfo.tobuf``, PAX
format, so long names and big sizes need nothing special), data is copied in chunks, and an
optional gzip layer compresses on the way (``zlib``, which releases the GIL).

The reading side parses an untrusted upload itself rather than through ``tarfile``: tarfile
reads a PAX header or a GNU long name whole into memory whatever size the archive claims, and
is synchronous. Here every piece of metadata is bounded, data arrives in bounded pieces, a gzip
layer is inflated at most :data:`CHUNK` bytes at a time (a "gzip bomb" costs time, not memory),
and an archive that ends before its end-of-archive marker is an error: truncation is always
seen. Errors are :class:`ArchiveError`, whose message names the problem.
"""

from __future__ import annotations

import enum
import tarfile
import zlib
from collections.abc import AsyncIterator

import attrs

from ..errors import quoted
from ..validation import MAX_UNIX_ID

BLOCK = 512
CHUNK = 1 << 20
#: A PAX header or GNU long name larger than this is refused (tar tools write a few hundred bytes).
MAX_METADATA = 64 * 1024
#: All the extended headers before one member together (each is held until the member comes:
#: a stream of headers with new keys and no member would otherwise grow without end).
MAX_MEMBER_METADATA = 1024 * 1024
#: What may follow the end-of-archive marker inside a gzip layer (tar pads to 10 KiB records).
MAX_TRAILER = 1 << 20
ENCODING = "utf-8"
#: A member's mode as tar restores it: the permission bits, setuid, setgid and sticky (a
#: base-256 field may hold far more, which chmod would refuse).
MODE_BITS = 0o7777
#: A modification time the kernel can set: within a signed 64-bit time_t.
MAX_TIME = float(2**63)
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_MAGIC = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
}


class ArchiveError(Exception):
    """The archive is broken, truncated or not a tar; the message says which and where."""


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"


class Kind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR_DEVICE = "character device"
    BLOCK_DEVICE = "block device"
    FIFO = "fifo"
    OTHER = "unknown type"


_KINDS = {
    tarfile.REGTYPE: Kind.FILE,
    tarfile.AREGTYPE: Kind.FILE,
    tarfile.CONTTYPE: Kind.FILE,
    tarfile.DIRTYPE: Kind.DIRECTORY,
    tarfile.SYMTYPE: Kind.SYMLINK,
    tarfile.LNKTYPE: Kind.HARDLINK,
    tarfile.CHRTYPE: Kind.CHAR_DEVICE,
    tarfile.BLKTYPE: Kind.BLOCK_DEVICE,
    tarfile.FIFOTYPE: Kind.FIFO,
}


# --- writing --------------------------------------------------------------------------------


def header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, ENCODING, "surrogateescape")


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


class Compressor:
    """The optional compression layer of an archive being written."""

    def __init__(self, compression: Compression, level: int = 1) -> None:
        # Level 1: checkpoint images are mostly memory pages, where the first level already
        # takes the zeros; higher levels cost several times the CPU for a few percent.
        self._zlib = (
            zlib.compressobj(level, zlib.DEFLATED, 31) if compression is Compression.GZIP else None
        )

    def feed(self, data: bytes) -> bytes:
        return data if self._zlib is None else self._zlib.compress(data)

    def finish(self) -> bytes:
        return b"" if self._zlib is None else self._zlib.flush()


# --- reading --------------------------------------------------------------------------------


@attrs.frozen
class Entry:
    """One member's header, with PAX and GNU long names applied."""

    name: str
    kind: Kind
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str
    #: A device node's numbers (0 for other kinds).
    devmajor: int = 0
    devminor: int = 0


class _Inflated:
    """The uncompressed bytes of an upload: gzip is recognized by its magic, plain tar passes."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._offset = 0  # bytes of the buffer already read
        self._gzip: zlib._Decompress | None = None
        self._decided = False
        self._pending = b""  # compressed input not yet inflated (bounded output per call)
        self.raw_bytes = 0

    async def _next_raw(self) -> bytes | None:
        while True:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return None
            if chunk:
                self.raw_bytes += len(chunk)
                return bytes(chunk)

    async def _fill(self) -> bool:
        """Add some uncompressed bytes to the buffer; False when the upload has ended."""
        if not self._decided:
            head = b""
            while len(head) < 6:
                raw = await self._next_raw()
                if raw is None:
                    break
                head += raw
            self._decided = True
            if not head:
                # Not a tar cut short: nothing came (curl -XPUT without --data-binary, or
                # with @ a file it could not read, which it sends as an empty body).
                raise ArchiveError(
                    "the request body is empty: send the tar archive (plain or gzip) as the"
                    " body, as curl --data-binary @FILE does"
                )
            if head.startswith(_GZIP_MAGIC):
                self._gzip = zlib.decompressobj(31)
            else:
                for magic, name in _OTHER_MAGIC.items():
                    if head.startswith(magic):
                        raise ArchiveError(f"{name} archives are not supported: send tar or gzip")
            self._pending = head
        while True:
            if not self._pending:
                raw = await self._next_raw()
                if raw is None:
                    if self._gzip is not None and not self._gzip.eof:
                        raise ArchiveError("the gzip stream is truncated")
                    return False
                self._pending = raw
            if self._gzip is None:
                self._buffer += self._pending
                self._pending = b""
                return True
            if self._gzip.eof:  # a further gzip member follows the one that ended
                self._gzip = zlib.decompressobj(31)
            try:
                out = self._gzip.decompress(self._pending, CHUNK)
            except zlib.error as exc:
                raise ArchiveError(f"the gzip stream is broken: {exc}") from None
            gzip = self._gzip
            self._pending = gzip.unused_data if gzip.eof else gzip.unconsumed_tail
            if out:
                self._buffer += out
                return True

    async def finish(self) -> None:
        """After the end-of-archive marker: read the upload to its end (tar pads its last
        record with zeros), so that a gzip layer's CRC is checked and a cut-off gzip stream
        is seen, and garbage after the archive is bounded."""
        drained = 0
        while await self._fill():
            drained += len(self._buffer) - self._offset
            self._buffer.clear()
            self._offset = 0
            if drained > MAX_TRAILER:
                raise ArchiveError(f"more than {MAX_TRAILER} bytes follow the end of the archive")

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[self._offset : self._offset + size])
        self._offset += len(data)
        if self._offset >= CHUNK:  # drop what was read, now and then: never a memmove per header
            del self._buffer[: self._offset]
            self._offset = 0
        return data

    async def read_exactly(self, size: int, what: str) -> bytes:
        while len(self._buffer) - self._offset < size:
            if not await self._fill():
                raise ArchiveError(f"the archive is truncated: it ends inside {what}")
        return self._take(size)

    async def read_some(self, limit: int, what: str) -> bytes:
        if len(self._buffer) == self._offset and not await self._fill():
            raise ArchiveError(f"the archive is truncated: it ends inside {what}")
        return self._take(limit)


def _pax_records(data: bytes) -> dict[str, str]:
    """``"LEN key=value\\n"`` records (POSIX pax extended header)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
        except ValueError:
            raise ArchiveError("a PAX header is malformed") from None
        record = data[space + 1 : position + length]
        if space < 0 or length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise ArchiveError("a PAX header is malformed")
        key, value = record[:-1].split(b"=", 1)
        records[key.decode(ENCODING, "surrogateescape")] = value.decode(ENCODING, "surrogateescape")
        position += length
    return records


class TarReader:
    """Entries of an uploaded archive, one at a time: :meth:`next_entry`, then its data with
    :meth:`read_data` (whatever is not read is skipped by the next :meth:`next_entry`)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._source = _Inflated(chunks)
        self._remaining = 0  # data bytes of the current entry not yet read
        self._padding = 0
        self._current = ""
        self.entries = 0

    @property
    def raw_bytes(self) -> int:
        """Bytes of the upload consumed so far (compressed, if it is)."""
        return self._source.raw_bytes

    async def next_entry(self) -> Entry | None:
        """The next member, or None at the end-of-archive marker."""
        while self._remaining:
            await self.read_data(CHUNK)
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        metadata = 0
        while True:
            block = await self._source.read_exactly(BLOCK, "a header (no end-of-archive marker)")
            if block == b"\0" * BLOCK:
                await self._source.finish()
                return None
            try:
                info = tarfile.TarInfo.frombuf(block, ENCODING, "surrogateescape")
            except tarfile.HeaderError as exc:
                raise ArchiveError(
                    f"broken tar header after {self.entries} entries: {exc}"
                ) from None
            kind = info.type
            if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                        tarfile.GNUTYPE_LONGLINK):  # fmt: skip
                if info.size > MAX_METADATA:
                    raise ArchiveError(
                        f"an extended header of {info.size} bytes is larger than the"
                        f" {MAX_METADATA} allowed"
                    )
                metadata += info.size
                if metadata > MAX_MEMBER_METADATA:
                    raise ArchiveError(
                        f"extended headers of more than {MAX_MEMBER_METADATA} bytes in all"
                        f" before entry {self.entries + 1}"
                    )
                data = await self._source.read_exactly(info.size, "an extended header")
                await self._source.read_exactly(-info.size % BLOCK, "an extended header")
                if kind == tarfile.XHDTYPE:
                    pax.update(_pax_records(data))
                elif kind == tarfile.GNUTYPE_LONGNAME:
                    long_name = data.rstrip(b"\0").decode(ENCODING, "surrogateescape")
                elif kind == tarfile.GNUTYPE_LONGLINK:
                    long_link = data.rstrip(b"\0").decode(ENCODING, "surrogateescape")
                continue  # a global PAX header (XGLTYPE) is read and ignored
            return self._entry(info, pax, long_name, long_link)

    def _entry(
        self,
        info: tarfile.TarInfo,
        pax: dict[str, str],
        long_name: str | None,
        long_link: str | None,
    ) -> Entry:
        if info.type == tarfile.GNUTYPE_SPARSE or any(k.startswith("GNU.sparse") for k in pax):
            raise ArchiveError(f"{quoted(info.name)} is a sparse file, which is not supported")
        name = pax.get("path", long_name if long_name is not None else info.name)
        linkname = pax.get("linkpath", long_link if long_link is not None else info.linkname)
        try:
            size = int(pax.get("size", info.size))
            uid = int(pax.get("uid", info.uid))
            gid = int(pax.get("gid", info.gid))
            mtime = float(pax.get("mtime", info.mtime))
        except ValueError:
            raise ArchiveError(f"the PAX header of {quoted(name)} has a malformed number") from None
        if size < 0:
            raise ArchiveError(f"{quoted(name)} has a negative size")
        for field, value in (("uid", uid), ("gid", gid)):
            if not 0 <= value <= MAX_UNIX_ID:
                raise ArchiveError(
                    f"{quoted(name)} has the {field} {value}: it must be between 0 and"
                    f" {MAX_UNIX_ID}"
                )
        if not -MAX_TIME <= mtime < MAX_TIME:  # NaN fails too
            raise ArchiveError(f"{quoted(name)} has a modification time out of range: {mtime}")
        kind = _KINDS.get(info.type, Kind.OTHER)
        # As tar does: data follows regular files and unknown types, never links or devices.
        has_data = kind in (Kind.FILE, Kind.OTHER)
        self._remaining = size if has_data else 0
        self._padding = -size % BLOCK if has_data else 0
        self._current = name
        self.entries += 1
        device = kind in (Kind.CHAR_DEVICE, Kind.BLOCK_DEVICE)
        return Entry(
            name=name, kind=kind, size=size if has_data else 0, mode=info.mode & MODE_BITS,
            uid=uid, gid=gid,
            mtime=mtime, linkname=linkname,
            devmajor=info.devmajor if device else 0, devminor=info.devminor if device else 0,
        )  # fmt: skip

    @property
    def data_left(self) -> int:
        """Bytes of the current entry's data not read yet."""
        return self._remaining

    async def read_data(self, limit: int = CHUNK) -> bytes:
        """The next piece of the current entry's data; b"" once it has all been read."""
        if not self._remaining:
            return b""
        what = f"the data of {quoted(self._current)}"
        data = await self._source.read_some(min(limit, self._remaining), what)
        self._remaining -= len(data)
        if not self._remaining and self._padding:
            await self._source.read_exactly(self._padding, what)
            self._padding = 0
        return data
