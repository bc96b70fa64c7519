"""PostgreSQL URLs: telling one from a path, and showing one without its password."""

from __future__ import annotations

import os
import re

from psycopg.conninfo import conninfo_to_dict

from digestbot.redact import MASK, redact_password, scrub_quoted, url_password

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


def malformed_userinfo(url: str) -> str | None:
    """Return a one-line refusal when libpq would misread ``url``'s user and password, else None.

    libpq splits userinfo at the FIRST ``@``: ``bot:hun@ter2@db`` would try host ``ter2@db``
    (and print that piece of the password in its error). Its authority ends at the first ``/``, so
    a raw ``/`` in a password (``bot:pa/ss@h``), a missing ``@host`` (``bot:pass``) or three
    slashes (``postgresql:///bot:pass@h``) turn the password into a port or a database name, which
    libpq then echoes. Percent-encoding is what works; the refusal shows no part of the password.
    """
    if "@" in url_password(url):
        return f"{redact_url(url)}: the password contains '@': percent-encode it as %40 in the URL"
    authority, _, rest = url.strip().partition("://")[2].partition("/")
    if "@" in authority:
        return None
    hosts = re.sub(r"\[[^\]]*\]", "", authority.split("?", 1)[0]).split(",")  # [IPv6] literals hold colons
    ports = [host.rsplit(":", 1)[1] for host in hosts if ":" in host]
    if "@" in rest.split("?", 1)[0] or any(port and not port.isdigit() for port in ports):
        return (
            f"{_masked_after_user(url)}: not a user:password@host URL as libpq reads it: end the password with '@'"
            " and the host, and percent-encode '/', '?' or '#' in it (%2F, %3F, %23)"
        )
    return None


def _masked_after_user(url: str) -> str:
    """Return ``url`` with everything from its first ``:`` after ``scheme://`` to its last ``@`` (or end) as ``***``."""
    head, sep, after = url.strip().partition("://")
    colon, at = after.find(":"), after.rfind("@")
    if colon < 0:
        return url.strip()
    return f"{head}{sep}{after[: colon + 1]}{MASK}{after[at:] if at > colon else ''}"


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
    return scrub_quoted(detail, url)
