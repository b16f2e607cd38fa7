"""Restart policies (docker's ``--restart``): whether an exited container is started again,
and after how long.

The rules are moby's restart manager's, read there and said again here: ``always`` and
``unless-stopped`` start it again whatever its status, ``on-failure`` after a non-zero one
while the restarts so far are under its ``maximumRetryCount`` (0 or none: no limit); a
container its user stopped is never started again (the caller asks only for the others).
The delay doubles at each restart, from 100 ms up to a minute, and starts over once a run
lasted 10 s.
"""

from __future__ import annotations

from .errors import InvalidRequest
from .model import RestartPolicy
from .validation import RESTART_POLICY_EMPTY

#: The delay before a first restart (or the first after a run of RESTART_RESET_AFTER).
RESTART_FIRST_DELAY = 0.1
#: The delay never grows past this.
RESTART_MAX_DELAY = 60.0
#: A run that lasted this long (seconds) starts the doubling over.
RESTART_RESET_AFTER = 10.0


def next_delay(last: float, ran: float) -> float:
    """The delay before the next restart: ``last`` was the one before this run (0: none),
    which lasted ``ran`` seconds."""
    if ran >= RESTART_RESET_AFTER or last <= 0:
        return RESTART_FIRST_DELAY
    return min(last * 2, RESTART_MAX_DELAY)


def in_force(policy: RestartPolicy | None) -> RestartPolicy | None:
    """``policy``, or None for docker's "no", which is no policy (and for moby's empty name,
    which is "no" too)."""
    return None if policy is None or policy.name in ("no", RESTART_POLICY_EMPTY) else policy


def leaves_as_it_is(policy: RestartPolicy) -> bool:
    """Whether ``policy``, a change's (``PATCH``, docker update's), changes nothing: moby's
    empty name, which its update takes as "leave the policy as it is" (it changes the policy
    only for a name; ``docker update`` sends the empty one whenever ``--restart`` is not
    given, or given empty), where its create takes it as "no" (:func:`in_force`)."""
    return policy.name == RESTART_POLICY_EMPTY


def refuse_with_auto_remove(policy: RestartPolicy | None, auto_remove: bool) -> None:
    """The 400 of a container given both autoRemove and a policy in force: a container removed
    at its exit cannot be started again (docker's ``--rm`` and ``--restart`` conflict)."""
    if auto_remove and (policy := in_force(policy)) is not None:
        raise InvalidRequest(
            f"autoRemove cannot be given with restartPolicy {policy.name!r}: a container"
            " removed at its exit cannot be started again (docker's --rm and --restart"
            " conflict)"
        )


def should_restart(policy: RestartPolicy, restarts: int, exit_status: int) -> bool:
    """Whether ``policy`` starts again a container that exited with ``exit_status`` after
    ``restarts`` restarts since its user's start (its user did not stop it)."""
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_status != 0 and (not limit or restarts < limit)
    return False
