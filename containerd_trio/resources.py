"""A container's cgroup limits: read from its bundle, given at its start, changed with ``runc
update``.

The daemon keeps the limits in force as it set them (:class:`~containerd_trio.model.Resources`):
those of the bundle's ``linux.resources`` when the container started, with the start's own
(:func:`lay_over`: runc puts them in force with the bundle's) and each update laid over them.
Kept this way, not read back from the cgroup files, because a listing of a thousand containers
must not cost five thousand reads; because a stopped container (whose cgroups are gone) still
shows what it ran under; and because the record survives a restart in the journal with the
rest of the container. runc is the only writer of those files, and ``runc update``
fails (and the record stays as it was) if the kernel refuses a value. runc writes the limits one
at a time and, on a refusal, puts back only those its own config held: what it wrote before the
refusal of a limit the bundle never set stays, and a runc killed at its deadline (or cancelled)
puts back nothing. So the daemon puts back, with another ``runc update``, every limit the
change named, as it was (:func:`before`).

What a bundle says is taken as runc took it: 0 and negative values mean "not set", and a value
outside the kernel's range cannot be in force (runc refuses to start the container), so it is
not shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from . import cgroups
from .errors import Conflict, InvalidRequest
from .model import CpuResources, MemoryResources, PidsResources, Resources
from .validation import (
    CPUS_PERIOD_US,
    DEFAULT_CPU_PERIOD_US,
    DEFAULT_CPU_SHARES,
    MAX_MEMORY_BYTES,
    MIN_CPUS,
    NO_LIMIT,
)

#: The limits runc takes (``linux.resources``), as ``section.field``.
_OCI_NAMES = ("memory.limit", "memory.swap", "cpu.shares", "cpu.quota", "cpu.period", "pids.limit")
#: The limits an update may name (for messages): runc's, and ``cpu.cpus``, the daemon's own
#: (docker's NanoCPUs), which it puts in force as a quota (:func:`cpus_as_quota`).
NAMES = (*_OCI_NAMES[:5], "cpu.cpus", *_OCI_NAMES[5:])
#: The CPU limits a container's user may have set through the API (its start's ``resources``,
#: an update), which hold ``cpu.cpus`` off while they are set, in the order docker's update
#: checks them (:func:`cpus_as_quota`): a bundle's own are not the user's, and hold nothing.
USER_CPU = ("period", "quota")


def is_empty(resources: Resources) -> bool:
    """True if no limit is named at all (``{}``, or ``{"memory": {}}``)."""
    return not any(_value(resources, name) is not None for name in NAMES)


def require_named(resources: Resources) -> None:
    """400 unless ``resources`` names a limit (an update's, a start's)."""
    if is_empty(resources):
        raise InvalidRequest(f"resources names no limit to change: give one of {', '.join(NAMES)}")


def memory_limited(resources: Resources) -> bool:
    """Whether the container's own cgroup can kill it for memory."""
    limit = _value(resources, "memory.limit")
    return limit is not None and limit > 0


def lifts_swap(resources: Resources) -> bool:
    """Whether ``resources`` lift the bundle's swap limit: ``memory.swap`` -1, or a memory
    limit of -1, which runc puts in force with no swap limit either (cgroup v1: memory and
    swap together; ``runc update --memory -1`` lifts both)."""
    return NO_LIMIT in (_value(resources, "memory.limit"), _value(resources, "memory.swap"))


def overlay(current: Resources, update: Resources) -> Resources:
    """``current`` with every limit that ``update`` names replaced; the swap limit lifted
    (``memory.swap`` -1) if ``update`` lifts it (:func:`lifts_swap`), and it stays so when a
    later memory limit is set (runc leaves the swap as it is), as docker keeps a
    ``--memory-swap -1``: what the container runs under is what its next start puts in
    force."""
    if lifts_swap(update) and _value(update, "memory.swap") is None:
        update = attrs.evolve(update, memory=MemoryResources(limit=NO_LIMIT, swap=NO_LIMIT))
    sections = {}
    for section in ("memory", "cpu", "pids"):
        old, new = getattr(current, section), getattr(update, section)
        if new is None:
            sections[section] = old
        elif old is None:
            sections[section] = new
        else:
            changed = {k: v for k, v in attrs.asdict(new, recurse=False).items() if v is not None}
            sections[section] = attrs.evolve(old, **changed)
    cpu = sections["cpu"]
    if cpu is not None and cpu.cpus == 0:
        # Lifted (its quota with it, -1: cpus_as_quota): nothing of it is kept.
        sections["cpu"] = attrs.evolve(cpu, cpus=None)
    return Resources(**sections)


def cpus_as_quota(
    current: Resources, change: Resources, user_cpu: tuple[str, ...] = ()
) -> Resources:
    """``change`` as runc takes it: its ``cpu.cpus`` (docker's ``--cpus``, NanoCPUs) a quota of
    docker's period (0.5: 50000 us of each 100000), beside it for the record to keep; 0 lifts
    the quota (-1) and the cpus (:func:`overlay`). ``current``: the container's limits, whose
    ``cpu.cpus`` (if set) holds its quota and period to it, as docker's does: the quota and
    period a later change names would make another number of CPUs of it (``--cpus 0.5`` then
    ``--cpu-period 50000`` was 1 CPU, the record holding only quota and period).

    400 for ``cpu.cpus`` beside ``cpu.quota`` or ``cpu.period`` (docker's "Conflicting
    options: Nano CPUs and CPU Period cannot both be set"); 409 for a quota or a period of a
    container whose ``cpu.cpus`` is set, until lifted with 0 (docker's "CPU Period cannot be
    updated as NanoCPUs has already been set"); and the other way round, 409 for a ``cpu.cpus``
    of a container whose ``user_cpu`` (its user's quota or period: :data:`USER_CPU`) is set,
    which it would replace (docker's "Nano CPUs cannot be updated as CPU Period has already
    been set"): a quota until lifted with -1; a period, which has no none, for good, as in
    docker (a start of the id with limits of its own makes them anew)."""
    cpu = change.cpu
    if cpu is None:
        return change
    named = [name for name in ("quota", "period") if getattr(cpu, name) is not None]
    if cpu.cpus is not None:
        # What they make (a record's limits, a change made so: taken as they are).
        made = {"quota": NO_LIMIT, "period": None}
        if cpu.cpus:
            made = {"quota": round(cpu.cpus * CPUS_PERIOD_US), "period": CPUS_PERIOD_US}
        if other := [name for name in named if getattr(cpu, name) != made[name]]:
            raise InvalidRequest(
                f"cpu.cpus and cpu.{other[0]} cannot both be given: cpu.cpus sets the quota"
                f" of a {CPUS_PERIOD_US} us period (docker's Conflicting options: Nano CPUs"
                f" and CPU {other[0].capitalize()} cannot both be set)"
            )
        if cpu.cpus and (held_by := [name for name in USER_CPU if name in user_cpu]):
            _refuse_cpus(current, held_by[0])
        return attrs.evolve(change, cpu=attrs.evolve(cpu, **made))
    held = current.cpu.cpus if current.cpu is not None else None
    if named and held:
        raise Conflict(
            f"cpu.{named[0]} cannot be changed: the container's CPUs were set by cpu.cpus"
            f" ({held:g}: a quota of a {CPUS_PERIOD_US} us period), which the change would"
            f" make another number of; lift it with cpu.cpus 0 first, or give cpu.cpus"
            f" (docker's CPU {named[0].capitalize()} cannot be updated as NanoCPUs has"
            f" already been set)"
        )
    return change


def check_cpus_available(change: Resources, available: int) -> None:
    """400 for a ``cpu.cpus`` past the host's ``available`` CPUs (``GET /state``'s
    ``machine.cpus``), as docker's daemon refuses NanoCPUs past its host's (``Range of CPUs is
    from 0.01 to 2.00, as there are only 2 CPUs available``), at a start and at an update,
    before anything is made. Until 2026-12-06 only ``ctr-trio --cpus`` checked it: the API
    took ``cpu.cpus`` 3 on a 2-CPU host, a quota the container could never use."""
    cpus = change.cpu.cpus if change.cpu is not None else None
    if cpus and cpus > available:  # 0 lifts it; below MIN_CPUS is the schema's 400
        raise InvalidRequest(
            f"cpu.cpus {cpus:g} is more than the host has: the range of CPUs is from"
            f" {MIN_CPUS:.2f} to {available:.2f}, as there are only {available} CPUs available"
        )


def _refuse_cpus(current: Resources, held_by: str) -> None:
    """409 for a ``cpu.cpus`` of a container whose user set its ``cpu.{held_by}``, which
    ``cpu.cpus`` would replace with its own (a quota of a 100000 us period): what lifts it."""
    value = getattr(current.cpu, held_by, None) if current.cpu is not None else None
    lift = (
        "lift it with cpu.quota -1 first"
        if held_by == "quota"
        else "a period has no none to lift it to"
    )
    raise Conflict(
        f"cpu.cpus cannot be set: the container's cpu.{held_by} was set by its start or an"
        f" update ({value} us), which cpu.cpus would replace with a quota of a"
        f" {CPUS_PERIOD_US} us period; {lift}, or give cpu.quota and cpu.period (docker's"
        f" Nano CPUs cannot be updated as CPU {held_by.capitalize()} has already been set)"
    )


def user_cpu_after(user_cpu: tuple[str, ...], change: Resources) -> tuple[str, ...]:
    """Which of :data:`USER_CPU` the user set once ``change`` (as runc takes it: through
    :func:`cpus_as_quota`) is in force, where ``user_cpu`` were before: a positive quota or
    period the change names itself is the user's, not one its ``cpu.cpus`` made; a quota
    lifted (-1, ``cpu.cpus`` 0's too) is no more."""
    cpu = change.cpu
    if cpu is None:
        return user_cpu
    held = set(user_cpu)
    for name in USER_CPU:
        value = getattr(cpu, name)
        if value is not None and value > 0 and cpu.cpus is None:
            held.add(name)
        elif value == NO_LIMIT:
            held.discard(name)
    return tuple(name for name in USER_CPU if name in held)


#: A cgroup's limits where runc was never asked for one: none (-1), or for ``cpu.shares`` and
#: ``cpu.period``, which have no none, the kernel's defaults.
_UNSET = Resources(
    memory=MemoryResources(limit=NO_LIMIT),
    cpu=CpuResources(shares=DEFAULT_CPU_SHARES, quota=NO_LIMIT, period=DEFAULT_CPU_PERIOD_US),
    pids=PidsResources(limit=NO_LIMIT),
)


def before(current: Resources, change: Resources) -> Resources:
    """The limits ``change`` names as they were in force under ``current``: what a change
    that failed puts back. Not the swap limit (see :func:`swap_before`)."""
    was = overlay(_UNSET, current)
    sections = {}
    for section in ("memory", "cpu", "pids"):
        named = getattr(change, section)
        if named is not None:
            left_out = {k: None for k, v in attrs.asdict(named, recurse=False).items() if v is None}
            if section == "memory":
                left_out["swap"] = None  # the bundle's, which runc is given apart
            sections[section] = attrs.evolve(getattr(was, section), **left_out)
    return Resources(**sections)


def swap_before(current: Resources, change: Resources, bundle_swap: int | None) -> int | None:
    """The swap limit to put back after ``change`` failed (or was cut short) under
    ``current``: the bundle's (``bundle_swap``), if ``change`` lifted it (runc writes the swap
    limit first then) and ``current`` had not; None if there is nothing to put back."""
    if bundle_swap is None or not lifts_swap(change) or lifts_swap(current):
        return None
    return bundle_swap


def to_oci(resources: Resources) -> dict[str, Any]:
    """The OCI ``linux.resources`` object for ``runc update -r``: the named limits only (runc
    leaves what is absent as it is)."""
    document: dict[str, Any] = {}
    for name in _OCI_NAMES:  # not cpu.cpus: in force as the quota beside it
        value = _value(resources, name)
        if value is not None:
            section, field = name.split(".")
            document.setdefault(section, {})[field] = value
    return document


def lay_over(config: dict[str, Any], limits: Resources, where: Path) -> None:
    """Put ``limits`` in the bundle config ``config`` (read from ``where``), over its own
    ``linux.resources``: what a start with limits runs from. 400 for a config they cannot go
    in: one whose ``linux`` or ``linux.resources`` is no object, or a memory limit above the
    bundle's ``memory.swap``, which on cgroup v1 is memory and swap together and may not be
    less than the memory limit (runc would fail, in words that name a cgroup file), unless
    ``limits`` lift it. No memory limit (-1), or ``memory.swap`` -1, lifts the bundle's swap
    limit (:func:`lifts_swap`); a bundle without one gets docker's beside a memory limit of
    ``limits`` (:func:`default_swap`: twice it), where the kernel counts swap."""
    linux = config.setdefault("linux", {})
    resources = linux.setdefault("resources", {}) if isinstance(linux, dict) else None
    if not isinstance(resources, dict):
        raise InvalidRequest(f"{where} has a linux.resources that is not an object")
    own_limit = _positive(_section(resources, "memory").get("limit"))
    for section, values in to_oci(limits).items():
        # The swap limit is the bundle's to lift, below, or docker's default beside a memory
        # limit of ours (default_swap), never a client's: runc writes any swap limit given,
        # and fails where the kernel counts no swap.
        values.pop("swap", None)
        if values:
            if not isinstance(resources.get(section), dict):
                resources[section] = {}
            resources[section].update(values)
    swap = swap_limit(config)
    limit = _value(limits, "memory.limit")
    if swap is None:
        beside = default_swap(limit, own_limit, None, lifted=lifts_swap(limits))
        if beside is not None:
            resources["memory"]["swap"] = beside  # an object: a limit was laid in it
        return
    memory = resources["memory"]  # an object: a swap was read from it
    if lifts_swap(limits):
        # No limit lifts the bundle's memory and swap together, as `runc update --memory -1`
        # (PATCH with -1) does, and the swap stays lifted under a memory limit set later: a
        # container whose swap an update lifted is started again, or restored, so (before,
        # refused below: its restart failed).
        memory["swap"] = NO_LIMIT
    elif limit is not None and limit > swap:
        raise InvalidRequest(swap_refusal(limit, swap, where))


#: docker's swap beside a memory limit given alone: memory and swap together twice the
#: memory limit (its daemon's, where the host accounts swap).
SWAP_FACTOR = 2


def default_swap(
    limit: int | None, bundle_limit: int | None, bundle_swap: int | None, *, lifted: bool
) -> int | None:
    """The swap limit (cgroup v1: memory and swap together) that goes with memory limit
    ``limit`` the daemon puts over a bundle's (``bundle_limit``, ``bundle_swap``), as docker
    sets ``--memory-swap`` to twice ``--memory`` given alone: None where there is none to
    set, for no limit or the bundle's own (which keeps the bundle's swap: none, unlimited),
    a bundle that sets a swap limit (which stays in force), a swap lifted (``lifted``:
    ``memory.swap`` -1, kept under a later limit), or a kernel that counts no swap (runc
    would fail to write it). Never shown in ``resources``, as the bundle's is not: it follows
    the memory limit, at each start, restore and update."""
    if limit is None or limit <= 0 or limit == bundle_limit or bundle_swap is not None:
        return None
    if lifted or not cgroups.accounts_swap():
        return None
    return min(SWAP_FACTOR * limit, MAX_MEMORY_BYTES)


def swap_limit(config: dict[str, Any]) -> int | None:
    """The swap limit a bundle config sets (``linux.resources.memory.swap``), if it sets one
    runc puts in force; never raises."""
    linux = config.get("linux")
    resources = linux.get("resources") if isinstance(linux, dict) else None
    return _positive(_section(resources, "memory").get("swap"))


def swap_refusal(limit: int, swap: int, where: Path) -> str:
    """Why a memory limit above the swap limit in force (``swap``, ``where``'s) cannot be, as
    docker's "Memory limit should be smaller than already set memoryswap limit, update the
    memoryswap at the same time"."""
    return (
        f"resources.memory.limit {limit} is above linux.resources.memory.swap ({swap}) in"
        f" {where}: on cgroup v1 that is memory and swap together, which may not be less than"
        " the memory limit; give a limit of at most that, lift the swap limit with it"
        " (memory.swap -1), or raise the bundle's swap"
    )


def refused_at_start(
    container_id: str, limits: Resources | None, runc_message: str
) -> InvalidRequest | None:
    """The kernel's refusal of the memory limit a start asked for (``limits``: the start's
    own, if any), as a 400; None if runc failed for another reason. runc's init holds memory
    in the new cgroup as runc sets the limit, and cgroup v1 takes no limit below what its
    processes hold: an update's refusal is a 409 (the container holds it now), a start's can
    never be met."""
    limit = None if limits is None else _value(limits, "memory.limit")
    refusal = "unable to set memory limit"
    if limit is None or refusal not in runc_message:
        return None
    return InvalidRequest(
        f"cannot start container {container_id!r} with resources.memory.limit {limit}:"
        f" {runc_message[runc_message.index(refusal) :]}: its first process holds more as it"
        " starts"
    )


def from_oci(document: object) -> Resources:
    """What a bundle's ``linux.resources`` puts in force (see the module's notes); never raises."""
    memory = _section(document, "memory")
    cpu = _section(document, "cpu")
    pids = _section(document, "pids")
    return Resources(
        memory=_made(MemoryResources, limit=_positive(memory.get("limit"))),
        cpu=_made(
            CpuResources,
            shares=_positive(cpu.get("shares")),
            quota=_positive(cpu.get("quota")),
            period=_positive(cpu.get("period")),
        ),
        pids=_made(PidsResources, limit=_positive(pids.get("limit"))),
    )


def _value(resources: Resources, name: str) -> int | None:
    section, field = name.split(".")
    part = getattr(resources, section)
    return None if part is None else getattr(part, field)


def _section(document: object, name: str) -> dict[str, Any]:
    part = document.get(name) if isinstance(document, dict) else None
    return part if isinstance(part, dict) else {}


def _positive(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _made(cls: type[Any], **values: int | None) -> Any:
    """The section with the values the rules accept (the others cannot be in force), or None
    if none is left."""
    kept = {}
    for name, value in values.items():
        if value is None:
            continue
        try:
            cls(**{name: value})
        except ValueError:
            continue
        kept[name] = value
    return cls(**kept) if kept else None
