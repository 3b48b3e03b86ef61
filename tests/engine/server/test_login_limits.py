"""The login limiter as a pure policy, time passed in: free attempts, doubling lockouts, bursts, per
username and per address, what a success resets, forgetting, bounded tables, IPv6 networks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nomaflow.engine.config.model import LoginLimits
from nomaflow.engine.server.auth.login_limits import Attempt, LoginLimiter, Refusal, address_key

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = LoginLimits(
    user_free_attempts=3,
    address_free_attempts=10,
    backoff_initial_seconds=1,
    backoff_max_seconds=60,
    forget_after_seconds=3600,
    tracked=100,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def admitted(limiter: LoginLimiter, user: str, address: str, now: datetime) -> Attempt:
    attempt = limiter.admit(user, address, now)
    assert isinstance(attempt, Attempt), attempt
    return attempt


def refused(limiter: LoginLimiter, user: str, address: str, now: datetime) -> Refusal:
    refusal = limiter.admit(user, address, now)
    assert isinstance(refusal, Refusal), refusal
    return refusal


def test_free_attempts_then_a_lockout_that_doubles_up_to_the_maximum() -> None:
    limiter = LoginLimiter(LIMITS)
    for _ in range(2):
        admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)
    admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)  # the third (last free) one locks for 1 s
    refusal = refused(limiter, "alice", "192.0.2.1", at(0.5))
    assert (refusal.scope, refusal.retry_after, refusal.retry_after_header) == ("username", 0.5, "1")
    assert refusal.message == "too many failed logins for this username: try again in 1 s"

    now, waits = 1.0, []
    for _ in range(8):  # each further failure doubles the lock: 2, 4, 8, ... at most 60 s
        admitted(limiter, "alice", "192.0.2.1", at(now)).failed(at(now))
        wait = refused(limiter, "alice", "192.0.2.1", at(now)).retry_after
        waits.append(wait)
        assert isinstance(refused(limiter, "alice", "192.0.2.1", at(now + wait - 0.01)), Refusal)
        now += wait
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]


def test_a_burst_gets_only_the_free_attempts_checked_at_once() -> None:
    limiter = LoginLimiter(LIMITS)
    burst = [limiter.admit("alice", f"192.0.2.{n}", T0) for n in range(10)]
    assert [isinstance(one, Attempt) for one in burst] == [True] * 3 + [False] * 7
    assert all(one.scope == "username" for one in burst[3:] if isinstance(one, Refusal))
    first = burst[0]
    assert isinstance(first, Attempt)
    first.failed(T0)  # two attempts still in flight, two free failures left: no room for a third
    assert isinstance(limiter.admit("alice", "192.0.2.99", T0), Refusal)
    for attempt in burst[1:3]:
        assert isinstance(attempt, Attempt)
        attempt.failed(T0)
    assert isinstance(limiter.admit("alice", "192.0.2.99", T0), Refusal)  # three failures: locked


def test_an_address_is_limited_across_usernames_and_other_addresses_are_not() -> None:
    limiter = LoginLimiter(LIMITS)
    for n in range(10):  # spread over users, each under its own limit
        admitted(limiter, f"user-{n}", "192.0.2.1", T0).failed(T0)
    refusal = refused(limiter, "someone-else", "192.0.2.1", T0)
    assert refusal.scope == "address" and refusal.message.startswith(
        "too many failed logins from this address"
    )
    admitted(limiter, "someone-else", "198.51.100.7", T0).succeeded()


def test_a_success_clears_the_usernames_count_but_not_the_addresss() -> None:
    limiter = LoginLimiter(LoginLimits(user_free_attempts=3, address_free_attempts=4))
    for _ in range(2):
        admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)
    admitted(limiter, "alice", "192.0.2.1", T0).succeeded()
    for _ in range(2):  # alice starts again from zero...
        admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)
    # ...but the address now has 4 failures: one good account does not reset it between guesses.
    assert refused(limiter, "bob", "192.0.2.1", T0).scope == "address"


def test_abandoned_attempts_count_nothing_and_failures_are_forgotten() -> None:
    limiter = LoginLimiter(LIMITS)
    for _ in range(5):
        admitted(limiter, "alice", "192.0.2.1", T0).abandoned()
    for _ in range(3):
        admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)
    assert isinstance(limiter.admit("alice", "192.0.2.1", at(0.5)), Refusal)  # 3 failures: locked
    # An hour after the last failure, the count starts again: two failures lock nothing.
    admitted(limiter, "alice", "192.0.2.1", at(3600)).failed(at(3600))
    admitted(limiter, "alice", "192.0.2.1", at(3600)).failed(at(3600))
    admitted(limiter, "alice", "192.0.2.1", at(3600)).abandoned()


def test_reporting_twice_counts_once() -> None:
    limiter = LoginLimiter(LIMITS)
    attempt = admitted(limiter, "alice", "192.0.2.1", T0)
    attempt.failed(T0)
    attempt.failed(T0)
    attempt.abandoned()
    admitted(limiter, "alice", "192.0.2.1", T0).failed(T0)
    admitted(limiter, "alice", "192.0.2.1", T0)  # two failures so far, not four


def test_the_tables_stay_bounded() -> None:
    limiter = LoginLimiter(LIMITS)
    held = admitted(limiter, "first", "192.0.2.1", T0)  # in flight: never dropped
    for n in range(5000):
        limiter.admit(f"guess-{n}", f"10.0.{n // 250}.{n % 250}", T0)
    assert len(limiter.users.records) == len(limiter.addresses.records) == 100
    assert "first" in limiter.users.records
    held.failed(T0)


def test_ipv6_clients_are_counted_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::7") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1" and address_key("unknown") == "unknown"
    limiter = LoginLimiter(LIMITS)
    for n in range(10):
        admitted(limiter, f"user-{n}", f"2001:db8:1:2::{n + 1:x}", T0).failed(T0)
    assert refused(limiter, "other", "2001:db8:1:2:ffff::1", T0).scope == "address"
