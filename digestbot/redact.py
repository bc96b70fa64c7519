"""Passwords in URLs: shown as ``***`` wherever a URL is echoed (logs, errors, ``check-config --show``).

A URL's userinfo (``user:password@host``) is split at its LAST ``@``, as RFC 3986 parsers do: an
unescaped ``@`` inside the password must not leave the rest of it in view. libpq reads further than
RFC 3986: its userinfo runs to the first ``@`` or ``/``, so a raw ``#`` or ``?`` is part of its
password (``bot:Se#cret@/db`` connects with password ``Se#cret``). So when a password has begun
(``scheme://user:``) and no ``@`` ends it before the first ``/?#``, it is taken to run to the LAST
``@`` of the URL: masking a little more than needed beats showing the rest of a password.
A client's own error message may echo a URL it was given, or a piece of it: :func:`scrub` masks
the password and its pieces there (the HTTP sources); libpq quotes what it echoes, and URLs it
would misread are refused before it sees them, so :func:`scrub_quoted` masks only a quoted value.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

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
    else:  # a libpq key=value string (host=… password=…), given where a URL was expected
        url = _KEY_PASSWORD.sub(rf"\g<1>{MASK}", url)
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
_KEY_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)")
"""``password=…`` in a libpq key=value string (quoted values may hold spaces)."""


def redact_text(text: str) -> str:
    """Return free text (a log line) with URL passwords and Slack-shaped tokens as ``***``.

    The last line of defence for logs: a library that echoes a URL it was given (the HTTP
    clients at ``-vv``) or a payload holding a token must not print the secret.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _KEY_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return _TOKEN.sub(lambda m: f"{m['kind']}-{MASK}", text)


_LOOSE_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*:/*[^\s/:@]*:)(?P<password>.*)@", re.DOTALL)
_SEGMENT_USERINFO = re.compile(r"(?P<head>[^/\s:@]+:)(?P<password>[^\s]*)@")
"""``user:password@`` anywhere in a would-be path (``postgresql//u:pw@h/db``, ``u:pw@h/db``), to its last ``@``."""


def redact_loose(text: str) -> str:
    """Return a would-be URL (a mistyped ``--db``) with anything that may be its password as ``***``.

    For text that failed to be a URL and is about to be echoed as a path: ``postgresql:/bot:pw@h/db``
    (one slash) or ``postgresql:bot:pw@h`` (none). From ``scheme:user:`` to the last ``@`` is masked,
    and any other ``user:password@`` in it (a missing colon: ``postgresql//u:pw@h/db``).
    """
    text = _LOOSE_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text, count=1)
    text = _SEGMENT_USERINFO.sub(lambda m: m[0] if MASK in m["password"] else f"{m['head']}{MASK}@", text)
    return redact_text(text)  # key=value passwords too


def scrub_quoted(text: str, url: str) -> str:
    """Return a driver's message (libpq's) with any quoted value that is ``url``'s password as ``***``.

    libpq quotes the values it echoes (``invalid percent-encoded token: "…"``, ``database "…"``)
    and never quotes its own words, so ``connection`` or ``socket`` as a password are left alone:
    masking every copy of the password told it as plainly as printing it. A quoted value that the
    URL also shows elsewhere (the password is the user's name, the database's, the host's) is left
    too, for the same reason. URL forms in the message are then redacted as in logs.
    """
    secret = url_password(url)
    if secret:
        forms = {secret, unquote(secret)}
        shown = unquote(redact_password(url))

        def mask(found: re.Match[str]) -> str:
            value = found["value"]
            elsewhere = re.search(rf"(?<![{_ALNUM}]){re.escape(value)}(?![{_ALNUM}])", shown)
            return f"{found['quote']}{MASK}{found['quote']}" if value in forms and not elsewhere else found[0]

        text = re.sub(r"(?P<quote>[\"'])(?P<value>[^\"']*)(?P=quote)", mask, text)
    return redact_text(text)


class RedactingFilter:
    """A logging filter that rewrites each record's message through :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the formatted message in place; never drop a record."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
