"""What a channel's due post does: a pure decision from the outbox's state and what the archive holds.

:meth:`digestbot.delivery.DeliveryEngine.scheduled_post` gathers the facts (the channel's plan for
the day, whether the day's list is stored, whether waiting can still help) and carries out the
:class:`Plan` these functions return; no function here touches the store, a clock or a platform,
so every branch of the rule is tested on its own (``tests/test_planner.py``).

The rule, for a post due at a time whose digest date is ``expected``:

* the list of ``expected`` is stored and the channel has no plan for it: **post** it;
* the channel has a plan for ``expected``: **resume** its unsent parts, else post the weekend
  **notice** of the list date that settled meanwhile if that was a weekend, else nothing
  (**already**);
* no list and no plan: **wait** while waiting can help (not past the cut-off, the source
  reachable); otherwise fall back (:func:`plan_fallback`): a **notice** that the newest list is
  too old, else the newest older list the channel has not had, else a **notice** saying why
  there is none (source unreachable, weekend, no list published).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Literal

from digestbot.freshness import is_stale
from digestbot.schedule import is_weekend

Reason = Literal["weekend", "stale", "unreachable", "no_list"]
"""Why a notice is posted instead of a digest (the engine words it in the channel's labels)."""


class Action(Enum):
    """What the engine does for one channel's due post."""

    POST = "post"  # plan and send the digest of ``Plan.day``
    RESUME = "resume"  # send the unsent parts of the plan already made for ``Plan.day``
    NOTICE = "notice"  # plan and send a no-digest notice for ``Plan.day`` (``Plan.reason`` says why)
    ALREADY = "already"  # the channel had its post for ``Plan.day``: nothing to send
    WAIT = "wait"  # the list is not there yet and waiting can help: ask again later
    FALLBACK = "fallback"  # nothing for the day and no more waiting: decide with plan_fallback


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One decision: the action, the date whose post slot it concerns, and the notice's reason."""

    action: Action
    day: date
    reason: Reason | None = None
    #: The channel's plan for the day is a digest whose list is stored: its subscribers' DMs resume too.
    resume_dms: bool = False


def plan_due(
    *,
    expected: date,
    nominal: date,
    planned_kind: str | None,
    unsent: bool,
    has_digest: bool,
    final: bool,
    source_down: bool,
) -> Plan:
    """Decide a channel's post due for ``expected`` (see the module docstring).

    ``nominal`` is the list date that settled at the due time; ``planned_kind`` the kind of the
    channel's existing plan for ``expected`` (None: no plan), ``unsent`` whether it has parts
    pending or claimed; ``has_digest`` whether the list of ``expected`` is stored; ``final``
    whether the cut-off has passed; ``source_down`` whether fetching the list just failed.
    """
    if planned_kind is None:
        if has_digest:
            return Plan(action=Action.POST, day=expected)
        if not final and not source_down:  # the source is down: waiting would not help, use the archive now
            return Plan(action=Action.WAIT, day=expected)
        return Plan(action=Action.FALLBACK, day=expected)
    resume_dms = planned_kind == "digest" and has_digest
    if unsent:
        return Plan(action=Action.RESUME, day=expected, resume_dms=resume_dms)
    if nominal != expected and is_weekend(nominal):
        return Plan(action=Action.NOTICE, day=nominal, reason="weekend", resume_dms=resume_dms)
    return Plan(action=Action.ALREADY, day=expected, resume_dms=resume_dms)


def older_worth_posting(older: date, expected: date) -> bool:
    """Tell whether the newest stored list, of ``older``, may stand in for ``expected``'s (it is not too old)."""
    return not is_stale(older, expected)


def plan_fallback(*, expected: date, older: date | None, older_unposted: bool, source_down: bool) -> Plan:
    """Decide a due post with no list for ``expected`` once waiting is over.

    ``older`` is the newest stored list date up to ``expected``; ``older_unposted`` whether the
    channel has not had it and its digest is not empty (only asked when
    :func:`older_worth_posting`).
    """
    if older is not None and is_stale(older, expected):
        # Never present an old list as the day's: say how old the newest one is instead.
        return Plan(action=Action.NOTICE, day=expected, reason="stale")
    if older is not None and older_unposted:
        return Plan(action=Action.POST, day=older)
    reason: Reason = "unreachable" if source_down else "weekend" if is_weekend(expected) else "no_list"
    return Plan(action=Action.NOTICE, day=expected, reason=reason)
