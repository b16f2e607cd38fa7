"""``--env-file``: a file of environment variables, read as docker's CLI reads one.

docker's format (its ``opts.ParseEnvFile``): a line is ``KEY=VALUE`` (the value as it is, to the
line's end: no quotes taken out, no ``$`` expanded, its spaces kept) or ``KEY`` alone (ours, if we
have it; else left out); leading white space is dropped, and blank lines and those that then
begin with ``#`` are skipped. A key holds no white space and is not empty; the file is UTF-8 (a
byte-order mark at its start is dropped). Several files are read in order, and ``-e`` after
them, so that a later entry of a key wins where the daemon lays them over the bundle's.
"""

from __future__ import annotations

from collections.abc import Mapping

_BOM = "\ufeff"


class EnvFileError(ValueError):
    """A file that is not docker's format, or cannot be read: the message says which line."""


def parse_env_file(text: bytes, environ: Mapping[str, str], name: str = "env file") -> list[str]:
    """The ``KEY=VALUE`` entries of the file ``name`` whose bytes are ``text``, in order, as
    docker's CLI reads them: ``KEY`` alone takes ``environ``'s value, and is left out where
    ``environ`` has none (as docker leaves it out)."""
    entries: list[str] = []
    for number, raw in enumerate(text.split(b"\n"), 1):
        try:
            line = raw.removesuffix(b"\r").decode()
        except UnicodeDecodeError:
            raise EnvFileError(
                f"{name} contains invalid utf8 bytes at line {number}: {raw[:40]!r}"
            ) from None
        if number == 1:
            line = line.removeprefix(_BOM)
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise EnvFileError(f"{name}, line {number}: no variable name on line {line!r}")
        if any(c.isspace() for c in key):
            raise EnvFileError(f"{name}, line {number}: variable {key!r} contains whitespaces")
        if sep:
            entries.append(f"{key}={value}")
        elif key in environ:
            entries.append(f"{key}={environ[key]}")
    return entries


def read_env_files(paths: list[str], environ: Mapping[str, str]) -> list[str]:
    """The entries of each file of ``paths`` in turn (:func:`parse_env_file`)."""
    entries: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as file:
                text = file.read()
        except OSError as exc:
            raise EnvFileError(f"cannot read env file {path}: {exc.strerror}") from None
        entries += parse_env_file(text, environ, f"env file {path}")
    return entries
