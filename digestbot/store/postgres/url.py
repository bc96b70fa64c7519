"""PostgreSQL URLs: telling one from a path, and showing one without its password."""

from __future__ import annotations

from digestbot.redact import redact_password, url_password

SCHEMES = ("postgresql", "postgres")
"""URL schemes that select the PostgreSQL store (libpq accepts both)."""


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
