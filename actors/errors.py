"""Exceptions that cross the actor boundary: what a step handler raises to steer its retries, and what
the store answers when it cannot take a write now."""

from __future__ import annotations


class StepFailure(Exception):
    """A step attempt failed. Retryable unless said otherwise; `retry_after` asks for a minimum wait."""

    retryable: bool = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentStepFailure(StepFailure):
    """A failure another attempt cannot fix (bad input, a 4xx, a template naming a missing output)."""

    retryable = False


class StepTimedOut(StepFailure):
    """An attempt ran past the step's `timeout_seconds`."""


class EngineStopping(Exception):
    """The engine is shutting down and admits no new runs."""


class UnknownJob(LookupError):
    """No job of that name is declared."""


class StoreUnavailable(Exception):
    """The job store cannot take this write now (unreachable, restarting, disk full, read-only, locked),
    and the write was not made. Nothing is wrong with the write itself: asking again later may work, and
    `retry_after` (seconds) says when that is worth it."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
