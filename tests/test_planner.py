"""The due-post rule alone: every branch of plan_due and plan_fallback, no store, clock or platform."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from digestbot.freshness import STALE_AFTER
from digestbot.planner import Action, Plan, older_worth_posting, plan_due, plan_fallback

FRI, SAT, MON = date(2024, 10, 11), date(2024, 10, 12), date(2024, 10, 14)


def due(**kw: object) -> Plan:
    facts: dict[str, object] = {
        "expected": FRI,
        "nominal": FRI,
        "planned_kind": None,
        "unsent": False,
        "has_digest": True,
        "final": False,
        "source_down": False,
    }
    facts.update(kw)
    return plan_due(**facts)  # type: ignore[arg-type]


def test_a_stored_list_without_a_plan_is_posted() -> None:
    assert due() == Plan(action=Action.POST, day=FRI)


def test_a_plan_with_unsent_parts_is_resumed_with_its_dms() -> None:
    assert due(planned_kind="digest", unsent=True) == Plan(action=Action.RESUME, day=FRI, resume_dms=True)
    assert due(planned_kind="notice", unsent=True, has_digest=False).resume_dms is False


def test_a_finished_plan_is_already_done_unless_a_weekend_list_settled_meanwhile() -> None:
    assert due(planned_kind="digest").action is Action.ALREADY
    weekend = due(planned_kind="digest", nominal=SAT)
    assert (weekend.action, weekend.day, weekend.reason) == (Action.NOTICE, SAT, "weekend")
    assert due(planned_kind="digest", nominal=MON).action is Action.ALREADY  # a weekday: nothing


@pytest.mark.parametrize(
    ("final", "source_down", "action"),
    [(False, False, Action.WAIT), (True, False, Action.FALLBACK), (False, True, Action.FALLBACK)],
)
def test_no_list_waits_only_while_waiting_can_help(final: bool, source_down: bool, action: Action) -> None:
    assert due(has_digest=False, final=final, source_down=source_down).action is action


def test_fallback_never_presents_a_stale_list_as_the_days() -> None:
    old = FRI - STALE_AFTER - timedelta(days=1)
    assert not older_worth_posting(old, FRI) and older_worth_posting(FRI - timedelta(days=1), FRI)
    plan = plan_fallback(expected=FRI, older=old, older_unposted=True, source_down=False)
    assert (plan.action, plan.day, plan.reason) == (Action.NOTICE, FRI, "stale")


def test_fallback_posts_the_newest_older_list_the_channel_has_not_had() -> None:
    thu = FRI - timedelta(days=1)
    assert plan_fallback(expected=FRI, older=thu, older_unposted=True, source_down=False) == Plan(
        action=Action.POST, day=thu
    )


@pytest.mark.parametrize(
    ("expected", "source_down", "reason"),
    [(FRI, True, "unreachable"), (SAT, False, "weekend"), (FRI, False, "no_list")],
)
def test_fallback_notice_says_why_there_is_no_list(expected: date, source_down: bool, reason: str) -> None:
    plan = plan_fallback(expected=expected, older=None, older_unposted=False, source_down=source_down)
    assert (plan.action, plan.day, plan.reason) == (Action.NOTICE, expected, reason)
