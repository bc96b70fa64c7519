"""PostgreSQL URLs: telling one from a path, and showing one without its password."""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict

from digestbot.redact import redact_password, scrub, url_password

SCHEMES = ("postgresql", "postgres")
"""URL schemes that select the PostgreSQL store (libpq accepts both)."""

CONNECT_TIMEOUT = 10
"""Seconds a connection may take when the URL sets no ``connect_timeout``: libpq's default is to wait forever."""


def is_postgres_url(target: str) -> bool:
    """Tell whether ``target`` is a ``postgresql://`` or ``postgres://`` URL."""
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``: safe for logs, errors and ``status``.

    The password is a secret; the user, host and database name help an operator see which
    database is meant. A ``password=`` query parameter is masked as well. The userinfo ends at
    the LAST ``@`` (see :mod:`digestbot.redact`).
    """
    return redact_password(url)


def unescaped_at(url: str) -> str | None:
    """Return a one-line refusal when ``url``'s password holds a raw ``@``, else None.

    libpq splits userinfo at the FIRST ``@``: ``bot:hun@ter2@db`` would try host ``ter2@db``
    (and print that piece of the password in its error). Percent-encoding (``%40``) is what works.
    """
    if "@" in url_password(url):
        return f"{redact_url(url)}: the password contains '@': percent-encode it as %40 in the URL"
    return None


def connect_args(url: str) -> tuple[str, int | None]:
    """Return the URL libpq is given (a lower-case scheme) and the ``connect_timeout`` to add (None: the URL's).

    URL schemes are case-insensitive, but libpq only knows ``postgresql://`` and ``postgres://``
    in lower case (``POSTGRESQL://…`` would fail as a ``key=value`` string). A server that
    accepts the connection and never answers must not hang a command: without a
    ``connect_timeout`` in the URL (or ``PGCONNECT_TIMEOUT``), :data:`CONNECT_TIMEOUT` applies.
    Raises psycopg's ProgrammingError for a URL libpq cannot parse.
    """
    scheme, sep, rest = url.strip().partition("://")
    conninfo = f"{scheme.lower()}{sep}{rest}"
    if "connect_timeout" in conninfo_to_dict(conninfo) or os.environ.get("PGCONNECT_TIMEOUT", "").strip():
        return conninfo, None
    return conninfo, CONNECT_TIMEOUT


def libpq_reason(exc: BaseException, url: str) -> str:
    """Return psycopg's/libpq's message as one line without any piece of ``url``'s password.

    libpq's reason (``invalid URI query parameter: "foo"``) says what to fix; a class name does not.
    Its message may span lines ("…: Connection refused", "Is the server running…") and may echo
    what it took for a host or user, or the URL itself.
    """
    detail = " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
    return scrub(detail, url_password(url))
