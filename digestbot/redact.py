"""Passwords in URLs: shown as ``***`` wherever a URL is echoed (logs, errors, ``check-config --show``).

A URL's userinfo (``user:password@host``) is split at its LAST ``@``, as RFC 3986 parsers do: an
unescaped ``@`` inside the password must not leave the rest of it in view. libpq reads further than
RFC 3986: its userinfo runs to the first ``@`` or ``/``, so a raw ``#`` or ``?`` is part of its
password (``bot:Se#cret@/db`` connects with password ``Se#cret``). So when a password has begun
(``scheme://user:``) and no ``@`` ends it before the first ``/?#``, it is taken to run to the LAST
``@`` of the URL: masking a little more than needed beats showing the rest of a password.
Drivers that split at the first ``@`` (libpq) echo a fragment of the password in their own
messages, so :func:`scrub` removes every piece of it from such a message too.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<after>.*)$", re.DOTALL)
_ALNUM = "A-Za-z0-9"


def _split(url: str) -> tuple[str, str, str] | None:
    """Return (scheme://, userinfo, the rest after its ``@``) of an absolute URL with userinfo, else None."""
    found = _URL.match(url)
    if found is None:
        return None
    after = found["after"]
    authority = re.split(r"[/?#]", after, maxsplit=1)[0]
    if "@" in authority:  # RFC 3986: the userinfo ends at the authority's last "@"
        end = authority.rindex("@")
    elif ":" in authority and "@" in after:  # a password holding "/", "?" or "#": up to the URL's last "@"
        end = after.rindex("@")
    else:
        return None
    return found["scheme"], after[:end], after[end + 1 :]


def url_password(url: str) -> str:
    """Return the password in ``url``'s userinfo (raw, as written), or ``""``."""
    parts = _split(url.strip())
    if parts is None or ":" not in parts[1]:
        return ""
    return parts[1].split(":", 1)[1]


def redact_password(url: str) -> str:
    """Return ``url`` with its userinfo password (and any ``password=`` query value) as ``***``.

    Anything that is not an absolute URL comes back unchanged, so every config string can go through.
    """
    parts = _split(url)
    if parts is not None:
        scheme, userinfo, rest = parts
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        url = f"{scheme}{userinfo}@{rest}"
    if _URL.match(url):
        url = re.sub(r"(?i)([?&]password=)[^&#]*", rf"\g<1>{MASK}", url)
    return url


def scrub(text: str, secret: str) -> str:
    """Return ``text`` with ``secret``, each piece of it between ``@``/``:``/``/`` and URL passwords as ``***``.

    Only whole tokens are masked (not touching a letter or digit on either side): replacing every
    substring would turn ``/var/run/postgresql`` into ``/var/run/***ql`` for password ``postgres``,
    which tells the password as plainly as printing it.
    """
    if secret:
        pieces = {secret, *re.split(r"[@:/]", secret)} - {""}
        for piece in sorted(pieces, key=len, reverse=True):
            text = re.sub(rf"(?<![{_ALNUM}]){re.escape(piece)}(?![{_ALNUM}])", MASK, text)
    return redact_text(text)


_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:/+[^\s/:@]*:)(?P<password>\S*)@")
"""A URL's ``user:password@`` in free text, up to the last ``@`` of the word (a password may hold ``/``).

One slash is enough (``postgresql:/bot:pw@…``): a mistyped URL, or one a path library folded."""
_TOKEN = re.compile(r"\b(?P<kind>xox[a-z]|xapp|xoxe\.xox[a-z])-[A-Za-z0-9-]+")


def redact_text(text: str) -> str:
    """Return free text (a log line) with URL passwords and Slack-shaped tokens as ``***``.

    The last line of defence for logs: a library that echoes a URL it was given (the HTTP
    clients at ``-vv``) or a payload holding a token must not print the secret.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _TOKEN.sub(lambda m: f"{m['kind']}-{MASK}", text)


_LOOSE_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*:/*[^\s/:@]*:)(?P<password>.*)@", re.DOTALL)


def redact_loose(text: str) -> str:
    """Return a would-be URL (a mistyped ``--db``) with anything that may be its password as ``***``.

    For text that failed to be a URL and is about to be echoed as a path: ``postgresql:/bot:pw@h/db``
    (one slash) or ``postgresql:bot:pw@h`` (none). From ``scheme:user:`` to the last ``@`` is masked.
    """
    return redact_text(_LOOSE_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text, count=1))


class RedactingFilter:
    """A logging filter that rewrites each record's message through :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the formatted message in place; never drop a record."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
