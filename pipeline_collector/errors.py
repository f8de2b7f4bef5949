"""Errors, each naming what was wrong.  Messages never carry secrets."""

from __future__ import annotations

import re

from .units import valid_text


def describe_exception(e: BaseException) -> str:
    """``"<type>: <message>"``, even when the exception's ``str()`` raises.

    A failure is recorded and the run goes on; reading the message of what
    a collector, slicer or hook raised must not become a second failure.

    >>> describe_exception(KeyError("jobs"))
    "KeyError: 'jobs'"
    >>> class Broken(Exception):
    ...     def __str__(self) -> str:
    ...         raise KeyError("no message")
    >>> describe_exception(Broken())
    'Broken: <its message could not be read: KeyError>'
    """
    return f"{type(e).__name__}: {message_of(e)}"


def message_of(e: BaseException) -> str:
    r"""``str(e)``, or a note of why it could not be read: never raises.

    The text is valid Unicode (a lone surrogate is escaped), so a failure
    can be written to any UTF-8 file, report or stream.

    >>> message_of(ValueError("bad window")), message_of(ValueError("file \udcff"))
    ('bad window', 'file \\udcff')
    """
    try:
        text = str(e)
    except Exception as inner:  # noqa: BLE001 - any failure of str() is what is guarded
        return f"<its message could not be read: {type(inner).__name__}>"
    return valid_text(text) if isinstance(text, str) else "<its message is not text>"


class PipelineError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigurationError(PipelineError, ValueError):
    """Collectors, windows or settings that cannot be used as given."""


class MissingExtra(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the extra to install.

    Raised when the compressor, transport or store that needs it is built,
    before anything is collected, and still an ``ImportError`` for code that
    caught that.
    """


class CollectorError(PipelineError):
    """A collector misbehaved: raised, returned or yielded the wrong thing."""


class StateError(PipelineError):
    """The bookkeeping store cannot be read or written."""


class UnrecordedError(StateError):
    """An archive reached the destination but the state could not record it.

    The run stops at once: the next run sends that archive's windows again,
    and nothing after it should ship while the state cannot be written.
    ``archive`` and ``store`` name what was delivered and where it was not
    recorded.
    """

    def __init__(self, message: str, *, archive: str, store: str) -> None:
        super().__init__(message)
        self.archive = archive
        self.store = store


class LockError(PipelineError):
    """A lock could not be taken or released cleanly (not merely held)."""


class ShipError(PipelineError):
    """A destination did not accept an archive.

    ``maybe_delivered`` is true when the archive may have arrived although no
    answer said so (a connection lost after the body was sent): the next run
    may then send the same rows again, and the report says so.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        self.maybe_delivered = maybe_delivered


# Anything like a password in a database error: ``password=...`` and URL user info.
_SECRETS = re.compile(r"(password\s*=\s*)(?:'[^']*'|\S+)|(://[^:/@\s]+:)\S*@", re.IGNORECASE)


def describe_db_error(exc: BaseException) -> str:
    """Name a database error in one line, with anything like a password blanked.

    >>> describe_db_error(OSError("bad dsn password=hunter2 host=db"))
    'OSError: bad dsn password=*** host=db'
    >>> describe_db_error(OSError("postgresql://svc:s3cr3t@db:5432/x refused"))
    'OSError: postgresql://svc:***@db:5432/x refused'
    >>> describe_db_error(OSError("at postgresql://awx:p@ss@db/awx"))
    'OSError: at postgresql://awx:***@db/awx'
    >>> describe_db_error(OSError("password='a b c' host=db\\nsecond line"))
    'OSError: password=*** host=db'
    >>> describe_db_error(TimeoutError())
    'TimeoutError'
    """
    first = (message_of(exc).strip().splitlines() or [""])[0]
    text = _SECRETS.sub(
        lambda m: f"{m[1]}***" if m[1] else f"{m[2]}***@",
        first,
    )
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
