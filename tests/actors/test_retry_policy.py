"""The retry policy is a pure value: decisions are tested without an event loop or a clock."""

from __future__ import annotations

import pytest

from nomaflow.actors.retry import Backoff, RetryPolicy


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        (Backoff.FIXED, [10, 10, 10, 10]),
        (Backoff.LINEAR, [10, 20, 30, 40]),
        (Backoff.EXPONENTIAL, [10, 20, 40, 80]),
    ],
)
def test_backoff_shapes(backoff: Backoff, delays: list[float]) -> None:
    policy = RetryPolicy(max_attempts=5, backoff=backoff, initial_delay_seconds=10)
    assert [policy.decide(attempt).delay_seconds for attempt in range(1, 5)] == delays
    assert not policy.decide(5).retry


def test_max_delay_caps_exponential_growth() -> None:
    policy = RetryPolicy(
        max_attempts=100, backoff=Backoff.EXPONENTIAL, initial_delay_seconds=1, max_delay_seconds=30
    )
    assert policy.decide(99).delay_seconds == 30


def test_jitter_only_shortens_the_wait() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay_seconds=10, jitter=0.5)
    assert policy.decide(1, random_fraction=0.0).delay_seconds == 10
    assert policy.decide(1, random_fraction=0.999).delay_seconds == pytest.approx(5.005)


def test_permanent_failures_are_not_retried() -> None:
    decision = RetryPolicy(max_attempts=5).decide(1, retryable=False)
    assert not decision.retry and "not retryable" in decision.reason


def test_retry_after_is_honoured_within_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay_seconds=1, max_delay_seconds=60)
    assert policy.decide(1, retry_after=20).delay_seconds == 20
    assert policy.decide(1, retry_after=600).delay_seconds == 60
    assert policy.decide(1, retry_after=0.1).delay_seconds == 1


def test_default_policy_does_not_retry() -> None:
    decision = RetryPolicy().decide(1)
    assert not decision.retry and "1 of 1" in decision.reason


def test_problems_name_each_bad_field() -> None:
    policy = RetryPolicy(
        max_attempts=0, initial_delay_seconds=5, max_delay_seconds=1, jitter=2, multiplier=0.5
    )
    fields = {field for field, _ in policy.problems()}
    assert fields == {"max_attempts", "max_delay_seconds", "jitter", "multiplier"}
    assert RetryPolicy(max_attempts=3).problems() == []
