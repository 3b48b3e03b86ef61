"""The retry policy: a frozen value that turns (attempt, failure) into a decision. No clock, no I/O.

`[jobs.retry]` in jobs.toml decodes straight into `RetryPolicy`; a step's own `retry` table replaces it.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Backoff(StrEnum):
    FIXED = "fixed"  # initial_delay every time
    LINEAR = "linear"  # initial_delay x attempt
    EXPONENTIAL = "exponential"  # initial_delay x multiplier^(attempt-1)


# Bounds that keep every wait finite and meaningful (nan and inf are refused too).
MAX_ATTEMPTS = 1000
MAX_DELAY_SECONDS = 30 * 86_400
MAX_MULTIPLIER = 100.0


class RetryDecision(msgspec.Struct, frozen=True):
    retry: bool
    delay_seconds: float = 0.0
    reason: str = ""


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How many times a step is attempted and how long to wait between attempts.

    `jitter` is a fraction in [0, 1]: the wait is shortened by up to that fraction, at random, so that
    steps failing together do not retry in lockstep. It never lengthens a wait past `max_delay_seconds`.
    """

    max_attempts: int = 1
    backoff: Backoff = Backoff.FIXED
    initial_delay_seconds: float = 1.0
    max_delay_seconds: float = 3600.0
    multiplier: float = 2.0
    jitter: float = 0.0

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every invalid setting; empty when the policy is usable.

        Each check is written so that it holds only for a good value: nan fails every comparison, so
        `not low <= x <= high` refuses it where `x < low` would let it through."""
        found: list[tuple[str, str]] = []
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            found.append(
                ("max_attempts", f"expected an integer >= 1 and <= {MAX_ATTEMPTS}, got {self.max_attempts}")
            )
        initial_ok = 0 <= self.initial_delay_seconds <= MAX_DELAY_SECONDS
        if not initial_ok:
            found.append(
                (
                    "initial_delay_seconds",
                    f"expected >= 0 and <= {MAX_DELAY_SECONDS}, got {self.initial_delay_seconds}",
                )
            )
        # Compared with initial_delay_seconds only when that one is usable: one bad value, one problem.
        floor = self.initial_delay_seconds if initial_ok else 0
        if not floor <= self.max_delay_seconds <= MAX_DELAY_SECONDS:
            found.append(
                (
                    "max_delay_seconds",
                    f"expected >= initial_delay_seconds ({self.initial_delay_seconds}) and "
                    f"<= {MAX_DELAY_SECONDS}, got {self.max_delay_seconds}",
                )
            )
        if not 1 <= self.multiplier <= MAX_MULTIPLIER:
            found.append(("multiplier", f"expected >= 1 and <= {MAX_MULTIPLIER}, got {self.multiplier}"))
        if not 0 <= self.jitter <= 1:
            found.append(("jitter", f"expected a fraction between 0 and 1, got {self.jitter}"))
        return found

    def delay_before(self, next_attempt: int, random_fraction: float = 0.0) -> float:
        """The wait before attempt `next_attempt` (2 for the first retry); `random_fraction` in [0, 1)."""
        retry_number = next_attempt - 1
        if self.backoff is Backoff.FIXED:
            base = self.initial_delay_seconds
        elif self.backoff is Backoff.LINEAR:
            base = self.initial_delay_seconds * retry_number
        else:
            # Cap the exponent so a large attempt count cannot overflow a float.
            base = self.initial_delay_seconds * self.multiplier ** min(retry_number - 1, 64)
        base = min(base, self.max_delay_seconds)
        return base * (1.0 - self.jitter * random_fraction)

    def decide(
        self,
        attempt: int,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        random_fraction: float = 0.0,
    ) -> RetryDecision:
        """What to do after attempt number `attempt` (1-based) failed."""
        if not retryable:
            return RetryDecision(retry=False, reason="the failure is not retryable")
        if attempt >= self.max_attempts:
            return RetryDecision(
                retry=False, reason=f"gave up after {attempt} of {self.max_attempts} attempts"
            )
        delay = self.delay_before(attempt + 1, random_fraction)
        if retry_after is not None:
            # A server's Retry-After is honoured, but never past the policy's own ceiling.
            delay = min(max(delay, retry_after), self.max_delay_seconds)
        return RetryDecision(retry=True, delay_seconds=delay)
