"""Errors, each naming what was wrong.  Messages never carry secrets."""

from __future__ import annotations


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
