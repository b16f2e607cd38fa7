"""Device nodes in a rootfs: the few an archive carries, and why no others.

An imported bundle lies on the host's filesystem, where any host user who can reach the
bundle directory can open what is in it: a device node there is the device itself, whatever
the container meant it for. ``dev/sda`` or ``dev/mem`` readable by all is a way to root, so
an archive may carry only the devices that every host already offers to every user, those the
OCI runtime spec lists as a container's defaults: ``null``, ``zero``, ``full``, ``random``,
``urandom``, ``tty`` (the opener's own terminal), ``ptmx`` (a new pseudo-terminal of its own),
and ``console``, which a host leaves to root alone. A rootfs made by debootstrap holds exactly
these, so that such a bundle moves with its nodes. Each is made owned by root (an owner could
widen its mode) and with no more than the mode a host gives it; whatever else the archive
says about it is dropped, as setuid is from files. No block device is carried at all.

A container rarely needs these nodes from its bundle: runc makes the devices its config lists
(the defaults above among them) in the container's ``/dev`` on each start and restore.

The export refuses, before its first byte, a rootfs holding anything the import would refuse
(:func:`refusal`), so that a move fails before it begins rather than once the target has
refused the copy.

A FIFO is no such risk (it reaches nothing of the host: whoever opens it meets only whoever
else opened it) and travels as what it is; a socket, which tar has no type for, is left out,
as docker's export and tar leave it out.
"""

from __future__ import annotations

import os
import stat

import attrs


@attrs.frozen
class CarriedDevice:
    name: str
    #: The widest permission bits it is made with (a host's own node's).
    modes: int


#: The character devices an archive carries, by (major, minor).
CARRIED: dict[tuple[int, int], CarriedDevice] = {
    (1, 3): CarriedDevice("null", 0o666),
    (1, 5): CarriedDevice("zero", 0o666),
    (1, 7): CarriedDevice("full", 0o666),
    (1, 8): CarriedDevice("random", 0o666),
    (1, 9): CarriedDevice("urandom", 0o666),
    (5, 0): CarriedDevice("tty", 0o666),
    (5, 1): CarriedDevice("console", 0o600),  # root's alone, as on any host
    (5, 2): CarriedDevice("ptmx", 0o666),
}

#: What the carried devices are, for messages.
CARRIED_NAMES = ", ".join(
    f"{device.name} {major}:{minor}" for (major, minor), device in CARRIED.items()
)


def carried(block: bool, major: int, minor: int) -> CarriedDevice | None:
    """The device, if an archive may carry it."""
    return None if block else CARRIED.get((major, minor))


def device_kind(block: bool, major: int, minor: int) -> str:
    return f"the {'block' if block else 'character'} device {major}:{minor}"


def refusal(info: os.stat_result) -> str | None:
    """Why an import refuses the rootfs entry ``info`` (an lstat), if it does: a device it does
    not carry. (A FIFO travels; a socket is not archived at all: it is left out.)"""
    mode = info.st_mode
    if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
        return None
    block = stat.S_ISBLK(mode)
    major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
    return None if carried(block, major, minor) else device_kind(block, major, minor)
