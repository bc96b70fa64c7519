"""What an HTTP answer means for a retry, decided once for the sources and every platform adapter.

* :func:`parse_retry_after` / :func:`retry_after_of`: the seconds a ``Retry-After`` header asks for
  (delta-seconds or an HTTP-date), whatever the header mapping's case and value shape.
* :func:`classify_status`: whether a failed request can succeed later. ``auth`` (401: the
  credentials, not the request, are wrong), ``rate_limited`` (429), ``transient`` (5xx, 408: the
  same request may work later; also no status at all), ``permanent`` (any other 4xx or unexpected
  status: asking again gets the same answer).
* :func:`as_delivery_error`: what such a failure is to the delivery engine, the same for every platform.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from digestbot.errors import AuthError, DeliveryError

Failure = Literal["auth", "rate_limited", "transient", "permanent"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """Return header ``name`` (any case; the first value when the mapping holds lists), or None."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            raw = value[0] if isinstance(value, list | tuple) and value else value
            return raw if isinstance(raw, str) else None
    return None


def retry_after_of(headers: Mapping[str, Any] | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds the ``Retry-After`` header in ``headers`` asks for, or None."""
    return parse_retry_after(header(headers, "Retry-After"), now=now)


def classify_status(status: int) -> Failure:
    """Return what a failed (non-2xx) HTTP status means for retrying the same request."""
    if status == 401:
        return "auth"
    if status == 429:
        return "rate_limited"
    if status >= 500 or status == 408 or status < 100:  # < 100: no HTTP answer at all (connection failed)
        return "transient"
    return "permanent"  # other 4xx, and a 1xx/3xx where a 2xx was expected: the same request gets it again


def as_delivery_error(kind: Failure, what: str, *, retry_after: float | None = None) -> DeliveryError:
    """Return the error a failed post raises: the one decision every platform adapter shares.

    ``auth`` is an :class:`~digestbot.errors.AuthError` (the token, not the target: the platform
    stops, its channels are kept); ``permanent`` is not retried; ``rate_limited`` and
    ``transient`` are retried after ``retry_after`` (None: the engine's backoff). The adapter
    decides ``kind`` from its platform's error codes and writes ``what`` (one line, no secrets).
    """
    if kind == "auth":
        return AuthError(what)
    if kind == "permanent":
        return DeliveryError(what, permanent=True)
    return DeliveryError(what, retry_after=retry_after)
