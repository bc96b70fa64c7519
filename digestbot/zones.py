"""Turn what people write for a time zone (``UTC+9``, ``KST``, ``GMT-05:00``) into real IANA zones.

A schedule needs an IANA zone so daylight-saving time is applied; people often type an offset
or an abbreviation instead. Spelling suggestions (``difflib``) are wrong for these: ``UTC+9``
is closest to ``UTC`` (nine hours off) and ``KST`` to ``MST``. So offsets and well-known
abbreviations are looked up here first, and only then is the name treated as a typo.
"""

from __future__ import annotations

import re

# Common abbreviations -> the zones most people who type them mean (first = most likely).
# Daylight variants (PDT, CEST, …) map to the same zone, since the zone switches by itself.
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "kst": ("Asia/Seoul",),
    "jst": ("Asia/Tokyo",),
    "cst": ("America/Chicago", "Asia/Shanghai"),
    "hkt": ("Asia/Hong_Kong",),
    "sgt": ("Asia/Singapore",),
    "ist": ("Asia/Kolkata", "Europe/Dublin"),
    "pst": ("America/Los_Angeles",),
    "pdt": ("America/Los_Angeles",),
    "pt": ("America/Los_Angeles",),
    "mst": ("America/Denver", "America/Phoenix"),
    "mdt": ("America/Denver",),
    "cdt": ("America/Chicago",),
    "est": ("America/New_York",),
    "edt": ("America/New_York",),
    "et": ("America/New_York",),
    "akst": ("America/Anchorage",),
    "hst": ("Pacific/Honolulu",),
    "gmt": ("Europe/London", "UTC"),
    "bst": ("Europe/London",),
    "wet": ("Europe/Lisbon",),
    "cet": ("Europe/Berlin", "Europe/Paris"),
    "cest": ("Europe/Berlin", "Europe/Paris"),
    "eet": ("Europe/Athens", "Europe/Helsinki"),
    "eest": ("Europe/Athens", "Europe/Helsinki"),
    "msk": ("Europe/Moscow",),
    "aest": ("Australia/Sydney",),
    "aedt": ("Australia/Sydney",),
    "awst": ("Australia/Perth",),
    "nzst": ("Pacific/Auckland",),
    "nzdt": ("Pacific/Auckland",),
    "brt": ("America/Sao_Paulo",),
}

# Cities commonly meant by a whole-hour UTC offset (first = the likeliest for this bot's users).
CITIES_BY_OFFSET: dict[int, tuple[str, ...]] = {
    -10: ("Pacific/Honolulu",),
    -9: ("America/Anchorage",),
    -8: ("America/Los_Angeles",),
    -7: ("America/Denver",),
    -6: ("America/Chicago",),
    -5: ("America/New_York",),
    -3: ("America/Sao_Paulo",),
    0: ("Europe/London",),
    1: ("Europe/Berlin", "Europe/Paris"),
    2: ("Europe/Athens",),
    3: ("Europe/Moscow",),
    4: ("Asia/Dubai",),
    7: ("Asia/Bangkok",),
    8: ("Asia/Shanghai", "Asia/Singapore"),
    9: ("Asia/Seoul", "Asia/Tokyo"),
    10: ("Australia/Sydney",),
    12: ("Pacific/Auckland",),
}

_PART_HOUR: dict[tuple[int, int], tuple[str, ...]] = {
    (5, 30): ("Asia/Kolkata",),
    (5, 45): ("Asia/Kathmandu",),
    (3, 30): ("Asia/Tehran",),
    (-3, 30): ("America/St_Johns",),
    (9, 30): ("Australia/Adelaide",),
}

_OFFSET = re.compile(r"(?:utc|gmt|z)?\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?", re.ASCII)


def parse_offset(name: str) -> tuple[int, int] | None:
    """Return ``(sign * hours, minutes)`` for offset spellings such as ``UTC+9``, ``GMT-05:00``, ``+0530``."""
    m = _OFFSET.fullmatch(name.strip().lower())
    if m is None:
        return None
    hours, minutes = int(m["hours"]), int(m["minutes"] or 0)
    if hours > 14 or minutes >= 60:
        return None
    return (-hours if m["sign"] == "-" else hours), minutes


def zones_for(name: str) -> list[str]:
    """Return the IANA zones someone typing ``name`` most likely means (empty if it is no offset or abbreviation).

    A whole-hour offset gives its usual cities, then ``Etc/GMT∓N`` (whose sign is inverted by POSIX
    convention: UTC+9 is ``Etc/GMT-9``), which keeps the offset all year, without daylight saving.
    """
    key = name.strip().lower()
    if key in ABBREVIATIONS:
        return list(ABBREVIATIONS[key])
    offset = parse_offset(key)
    if offset is None:
        return []
    hours, minutes = offset
    if minutes:  # India, Nepal, Iran, Newfoundland, South Australia: no Etc/ zone exists for these
        return list(_PART_HOUR.get((hours, minutes), ()))
    fixed = "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    return [*CITIES_BY_OFFSET.get(hours, ()), fixed]
