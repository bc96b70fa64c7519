"""PostgreSQL URLs: telling one from a path, and showing one without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
"""URL schemes that select the PostgreSQL store (libpq accepts both)."""


def is_postgres_url(target: str) -> bool:
    """Tell whether ``target`` is a ``postgresql://`` or ``postgres://`` URL."""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``: safe for logs, errors and ``status``.

    The password is a secret; the user, host and database name help an operator see which
    database is meant. A ``password=`` query parameter is masked as well.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = "&".join(
        ("password=***" if item.lower().startswith("password=") else item) for item in parts.query.split("&") if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
