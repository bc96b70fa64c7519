"""The one exception tree of digestbot.

Every error a user can cause derives from :class:`DigestbotError` and carries a message that
already names the place (file and line, JSON path, dotted config key), so the CLI and every
adapter can show ``str(err)`` as one line without a traceback::

    DigestbotError
    ├── ConfigError      config file missing, unparsable, unknown key, wrong type
    │   └── TokenRefusedError  a platform refused a configured token at start: exit 1, that platform stops
    ├── SourceError      an input file or API answer that cannot be read as papers
    │   ├── SourceUnreachableError  a source API unreachable, timed out or busy after every retry: exit 75
    │   └── SourceAnswerError  a source API answered what no reader can use (HTML, cut-off JSON): exit 1
    ├── StoreError       the database cannot be opened or migrated (exit 2: --db or the config must change)
    │   ├── StoreBusyError     another process held the database past the busy timeout: exit 75
    │   └── StoreFailedError   a read or write failed (disk full, I/O): exit 1
    │       └── StoreDamagedError  the database file is damaged: exit 1
    ├── TopicLimitError  a subscription past the topic limit (the command layer words the reply)
    ├── CommandError     a chat/CLI command with bad arguments (bad topic, no match…)
    ├── DeliveryError    a post failed; ``permanent`` says whether retrying can help
    │   ├── StoppedError  a setting only the operator can fix (an unwritable console transcript): stop that platform
    │   │   └── AuthError    the platform refused our credentials (401, invalid_auth)
    │   └── PausedError  the target's workspace removed the app (uninstall, revoked token): skip it
    └── UnavailableError a service digestbot needs (a platform API) cannot be reached: exit 1, not 2

The CLI exits 2 for a DigestbotError (the input or the configuration must change), 75 for a
SourceUnreachableError or a StoreBusyError (run it again later) and 1 for an UnavailableError (a
SourceAnswerError is one), a TokenRefusedError or a StoreFailedError (the command failed; the
input was fine).

Store errors are what every storage backend raises (the SQLite store translates its driver's
errors into them, see :mod:`digestbot.store.sqlite_errors`), so nothing outside ``digestbot/store/``
needs to know which database is behind it.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """Root of every error a user or operator can cause; its text is a complete one-line message."""


class ConfigError(DigestbotError):
    """The configuration cannot be used as given."""


class TokenRefusedError(ConfigError):
    """A platform refused a configured token when digestbot connected (401, ``invalid_auth``).

    A configuration error of that platform alone: the others go on, and the CLI exits 1 (the
    command failed; what was asked was fine), as for a refusal while posting (:class:`AuthError`).
    """


class SourceError(DigestbotError):
    """An input (file or API answer) cannot be read as paper records."""


class SourceUnreachableError(SourceError):
    """A source API stayed unreachable, timed out or busy through every retry: try again later (exit 75).

    Not the user's input, so not exit 2; not a failure that needs a fix either, so not exit 1.
    """


class StoreError(DigestbotError):
    """The database cannot be opened, migrated or written.

    ``str()`` is the one line for the operator (it names the database); ``reason`` is the
    database's own words alone, for messages that say where themselves (a delivery summary).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class NoArchiveError(StoreError):
    """A command that only reads was pointed at a database holding no digestbot archive: nothing was written (exit 2).

    ``reason`` says so without the advice (``no digestbot archive in URL yet``), for lines that go on.
    """


class StoreBusyError(StoreError):
    """Another process held the database past the busy timeout: nothing was written, retry later (exit 75)."""


class StoreFailedError(StoreError):
    """A read or write failed (disk full, I/O error): nothing was half-written, the command failed (exit 1)."""


class StoreDamagedError(StoreFailedError):
    """The database file is damaged: restore a backup (exit 1)."""


class TopicLimitError(DigestbotError):
    """A user already follows ``limit`` topics (``count`` of them): the subscription was not stored.

    The store only counts; the command layer (:mod:`digestbot.commands`) words the reply.
    """

    def __init__(self, *, count: int, limit: int) -> None:
        super().__init__(f"already {count} topics, the limit is {limit}")
        self.count = count
        self.limit = limit


class CommandError(DigestbotError):
    """A command's arguments are invalid; the message is shown to the user who sent it."""


class DeliveryError(DigestbotError):
    """Sending a message failed.

    ``permanent`` is true when retrying cannot help (channel gone, no permission, user
    cannot be messaged): the target is then recorded as failed instead of retried.
    """

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class StoppedError(DeliveryError):
    """The platform cannot be sent to until the operator fixes a setting (an unwritable console transcript).

    Not the target's fault, and waiting cannot help: the engine stops sending to the whole
    platform for the run, keeps every channel enabled and the messages pending, and the CLI says
    so in one line (exit 1). Raised as itself, it is counted and worded as "platform stopped",
    never as refused credentials: the operator must look at what the message names.
    """


class AuthError(StoppedError):
    """The platform refused the bot's credentials (revoked or rotated token): stopped, worded "credentials refused"."""


class PausedError(DeliveryError):
    """The target's workspace uninstalled the app or revoked its token: its channels are paused.

    Not a failure of the target nor of the whole platform: the message is left unsent, not
    retried, not counted as failed, and the other workspaces go on; a reinstall resumes them.
    """


class UnavailableError(DigestbotError):
    """A service digestbot needs cannot be reached (a platform API down, no network): the command failed.

    Not the user's input: the CLI exits 1 rather than 2. The message names the service and its URL.
    """


class SourceAnswerError(SourceError, UnavailableError):
    """A source API answered what cannot be read as its papers (an HTML page, cut-off JSON, the wrong shape).

    The source's fault, not the user's input: exit 1 (an UnavailableError), not 2. Still a
    SourceError, so whoever falls back on the archive when a source fails does so for this too.
    """
