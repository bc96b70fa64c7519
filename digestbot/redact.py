"""Passwords in URLs: shown as ``***`` wherever a URL is echoed (logs, errors, ``check-config --show``).

A URL's userinfo (``user:password@host``) is split at its LAST ``@``, as RFC 3986 parsers do: an
unescaped ``@`` inside the password must not leave the rest of it in view. Drivers that split at
the first ``@`` instead (libpq) echo a fragment of the password in their own messages, so
:func:`scrub` removes every piece of it from such a message too.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#]*)(?P<rest>.*)$", re.DOTALL)
_MIN_FRAGMENT = 3
"""Shorter pieces of a password (``a`` of ``a@b``) are not scrubbed: they would mangle unrelated words."""


def _split(url: str) -> tuple[str, str, str, str] | None:
    """Return (scheme://, userinfo, host part, rest) of an absolute URL with userinfo, else None."""
    found = _URL.match(url)
    if found is None or "@" not in found["netloc"]:
        return None
    userinfo, _, host = found["netloc"].rpartition("@")
    return found["scheme"], userinfo, host, found["rest"]


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
        scheme, userinfo, host, rest = parts
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK
        url = f"{scheme}{userinfo}@{host}{rest}"
    if _URL.match(url):
        url = re.sub(r"(?i)([?&]password=)[^&#]*", rf"\g<1>{MASK}", url)
    return url


def scrub(text: str, secret: str) -> str:
    """Return ``text`` with ``secret`` and each piece of it between ``@``/``:``/``/`` replaced by ``***``."""
    if not secret:
        return text
    pieces = {secret, *re.split(r"[@:/]", secret)}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= _MIN_FRAGMENT or piece == secret:
            text = text.replace(piece, MASK)
    return text


_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)(?P<password>[^\s/]*)@")
_TOKEN = re.compile(r"\b(?P<kind>xox[a-z]|xapp|xoxe\.xox[a-z])-[A-Za-z0-9-]+")


def redact_text(text: str) -> str:
    """Return free text (a log line) with URL passwords and Slack-shaped tokens as ``***``.

    The last line of defence for logs: a library that echoes a URL it was given (the HTTP
    clients at ``-vv``) or a payload holding a token must not print the secret.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _TOKEN.sub(lambda m: f"{m['kind']}-{MASK}", text)


class RedactingFilter:
    """A logging filter that rewrites each record's message through :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the formatted message in place; never drop a record."""
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
