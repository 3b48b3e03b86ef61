"""Password guessing, slowed down: failed logins are counted per username and per client address, and
past a few free ones each further failure locks that name (or address) out for a while that doubles,
up to a maximum. A pure policy: the caller passes the time (the engine's clock), so tests move time.

The rules, for each table (usernames, addresses), with `free` failures allowed:
- fewer than `free` failures so far: that many attempts may be checked at once (a burst of guesses
  cannot all slip in before the first one fails); from `free` on, one at a time;
- each failure from the `free`-th on locks the key for `backoff_initial * 2^(failures - free)`, at most
  `backoff_max`: while locked, an attempt is refused at once, before any password is hashed;
- a success clears the username's count (not the address's: one good account must not let an address
  reset its count between guesses at others); failures are forgotten `forget_after` the last one.

Unknown usernames are counted like known ones, so the answers never tell which names exist. Both tables
are bounded (`tracked`); when one is full, the least recently seen key without an attempt in flight
goes. State lives in this process only (docs/auth.md says what that means with several replicas).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from nomaflow.engine.config.model import LoginLimits

Scope = Literal["username", "address"]


@dataclass
class _Record:
    failures: int = 0
    in_flight: int = 0
    locked_until: datetime | None = None
    last_failure: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused, and in how many seconds asking again may work."""

    scope: Scope
    retry_after: float

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))

    @property
    def message(self) -> str:
        where = "for this username" if self.scope == "username" else "from this address"
        return f"too many failed logins {where}: try again in {self.retry_after_header} s"


class _Table:
    def __init__(self, free: int, limits: LoginLimits) -> None:
        self.free = free
        self.limits = limits
        self.records: OrderedDict[str, _Record] = OrderedDict()

    def record(self, key: str, now: datetime) -> _Record:
        record = self.records.get(key)
        if record is None:
            record = self.records[key] = _Record()
            self._bound()
        else:
            self.records.move_to_end(key)
        forget = timedelta(seconds=self.limits.forget_after_seconds)
        if (
            record.last_failure is not None
            and now - record.last_failure >= forget
            and (record.locked_until is None or now >= record.locked_until)
        ):
            record.failures, record.locked_until, record.last_failure = 0, None, None
        return record

    def _bound(self) -> None:
        while len(self.records) > self.limits.tracked:
            # The least recently seen key with nothing in flight goes (those are few: the hashing
            # queue bounds them), so the table never outgrows `tracked` by more than that.
            idle = next((key for key, record in self.records.items() if record.in_flight == 0), None)
            if idle is None:
                return
            del self.records[idle]

    def refusal(self, scope: Scope, record: _Record, now: datetime) -> Refusal | None:
        if record.locked_until is not None and now < record.locked_until:
            return Refusal(scope, (record.locked_until - now).total_seconds())
        at_once = self.free - record.failures if record.failures < self.free else 1
        if record.in_flight >= at_once:
            # The attempts in flight decide whether this key locks: ask again once they have.
            return Refusal(scope, self.limits.backoff_initial_seconds)
        return None

    def failed(self, record: _Record, now: datetime) -> None:
        record.in_flight -= 1
        record.failures += 1
        record.last_failure = now
        if record.failures >= self.free:
            exponent = min(record.failures - self.free, 64)  # 2^64 s is past any maximum already
            lock = min(self.limits.backoff_initial_seconds * 2.0**exponent, self.limits.backoff_max_seconds)
            until = now + timedelta(seconds=lock)
            record.locked_until = until if record.locked_until is None else max(record.locked_until, until)


class Attempt:
    """One admitted login attempt: report how it went exactly once (`failed`, `succeeded`, or
    `abandoned` when the password was never checked)."""

    def __init__(self, limiter: LoginLimiter, user: _Record, address: _Record) -> None:
        self._limiter = limiter
        self._user = user
        self._address = address
        self._open = True

    def failed(self, now: datetime) -> None:
        if self._close():
            self._limiter.users.failed(self._user, now)
            self._limiter.addresses.failed(self._address, now)

    def succeeded(self) -> None:
        if self._close():
            self._user.in_flight -= 1
            self._address.in_flight -= 1
            self._user.failures, self._user.locked_until, self._user.last_failure = 0, None, None

    def abandoned(self) -> None:
        if self._close():
            self._user.in_flight -= 1
            self._address.in_flight -= 1

    def _close(self) -> bool:
        was_open, self._open = self._open, False
        return was_open


class LoginLimiter:
    def __init__(self, limits: LoginLimits) -> None:
        self.users = _Table(limits.user_free_attempts, limits)
        self.addresses = _Table(limits.address_free_attempts, limits)

    def admit(self, username: str, address: str, now: datetime) -> Attempt | Refusal:
        """An Attempt to check the password of, or why not (nothing is counted for a refusal)."""
        user = self.users.record(username, now)
        client = self.addresses.record(address_key(address), now)
        refusal = self.users.refusal("username", user, now) or self.addresses.refusal("address", client, now)
        if refusal is not None:
            return refusal
        user.in_flight += 1
        client.in_flight += 1
        return Attempt(self, user, client)


def address_key(address: str) -> str:
    """The key an address is counted under: IPv6 clients by their /64, which one host usually holds
    whole (counting each of its addresses apart would give it 2^64 allowances)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client it maps
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
