"""Offsets and abbreviations suggest the zones people mean, not the closest spelling."""

from __future__ import annotations

import pytest

from digestbot.errors import ConfigError
from digestbot.schedule import load_zone
from digestbot.zones import zones_for


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("UTC+9", "Asia/Seoul or Asia/Tokyo or Etc/GMT-9"),
        ("utc+09:00", "Asia/Seoul or Asia/Tokyo or Etc/GMT-9"),
        ("GMT-5", "America/New_York or Etc/GMT+5"),
        ("UTC+5:30", "Asia/Kolkata"),
        ("KST", "Asia/Seoul"),
        ("JST", "Asia/Tokyo"),
        ("PST", "America/Los_Angeles"),
        ("CEST", "Europe/Berlin or Europe/Paris"),
    ],
)
def test_offsets_and_abbreviations_suggest_real_zones(typed: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_zone(typed)
    assert str(info.value) == f"unknown time zone {typed!r}; did you mean {expected}?"


def test_every_suggestion_is_a_real_zone_with_the_typed_offset() -> None:
    from datetime import UTC, datetime

    winter = datetime(2026, 1, 15, 12, tzinfo=UTC)
    for hours in range(-12, 15):
        typed = f"UTC{hours:+d}"
        for zone in zones_for(typed):
            offset = winter.astimezone(load_zone(zone)).utcoffset()
            assert offset is not None
            # Cities may be in daylight time in January (southern hemisphere): at most one hour off.
            assert abs(offset.total_seconds() / 3600 - hours) <= 1, (typed, zone)


def test_names_that_are_no_offset_have_no_zone_guess() -> None:
    assert zones_for("Asia/Seol") == []
    assert zones_for("UTC+99") == []
    with pytest.raises(ConfigError, match="did you mean Asia/Seoul"):
        load_zone("Asia/Seol")
