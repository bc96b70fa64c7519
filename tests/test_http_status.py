"""One reading of HTTP answers for sources and adapters: Retry-After and what a status means for a retry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digestbot.errors import AuthError, DeliveryError
from digestbot.http_status import Failure, as_delivery_error, classify_status, parse_retry_after, retry_after_of

NOW = datetime(2024, 10, 11, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Fri, 11 Oct 2024 12:00:30 GMT", now=NOW) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_is_found_in_any_header_mapping() -> None:
    assert retry_after_of({"retry-after": ["2"]}) == 2.0
    assert retry_after_of({"RETRY-AFTER": "Fri, 11 Oct 2024 12:01:00 GMT"}, now=NOW) == 60.0
    assert retry_after_of({"Content-Type": "text/plain"}) is None
    assert retry_after_of(None) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "auth"),
        (429, "rate_limited"),
        (500, "transient"),
        (503, "transient"),
        (408, "transient"),
        (0, "transient"),
        (400, "permanent"),
        (403, "permanent"),
        (404, "permanent"),
        (302, "permanent"),
    ],
)
def test_statuses_are_classified_once(status: int, kind: str) -> None:
    assert classify_status(status) == kind


def test_a_classified_failure_is_the_same_delivery_error_on_every_platform() -> None:
    auth = as_delivery_error("auth", "discord: 401", retry_after=3.0)
    assert isinstance(auth, AuthError) and str(auth) == "discord: 401"
    gone = as_delivery_error("permanent", "slack: channel_not_found")
    assert type(gone) is DeliveryError and gone.permanent
    kinds: tuple[Failure, ...] = ("rate_limited", "transient")
    for kind in kinds:
        again = as_delivery_error(kind, "x", retry_after=2.5)
        assert type(again) is DeliveryError and not again.permanent and again.retry_after == 2.5
