"""Tokens: pinned HS256, required claims, expiry, audience and issuer; user tokens follow app.toml;
secrets from the environment; passwords; durations; triggered_by."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher

from nomaflow.engine.config.model import AuthSettings, UserSettings
from nomaflow.engine.server.api.schemas import RoleName
from nomaflow.engine.server.auth.tokens import (
    AuthConfigError,
    AuthError,
    Principal,
    Role,
    Tokens,
    bearer_token,
    hash_password,
    parse_ttl,
    resolve_secret,
)

SECRET = "k" * 48
NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)


# Cheap parameters: the checks are the same, the hashing is not what is being tested here.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
HASHES = {"olga": FAST.hash("olga-pw")}


def tokens(**users: RoleName) -> Tokens:
    settings = AuthSettings(
        secret=SECRET,
        issuer="iss",
        audience="aud",
        users={name: UserSettings(password_hash=HASHES[name], role=role) for name, role in users.items()},
    )
    return Tokens(settings)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_token_round_trips_with_its_role() -> None:
    auth = tokens()
    principal = auth.verify(auth.issue("ci-bot", Role.operator, "service", HOUR, NOW))
    assert principal == Principal("ci-bot", Role.operator, "service")
    assert principal.can(Role.viewer) and principal.can(Role.operator) and not principal.can(Role.admin)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": NOW - HOUR}, "token expired"),
        ({"aud": "someone-else"}, "token is for another audience"),
        ({"iss": "elsewhere"}, "token is from another issuer"),
        ({"exp": None}, "lacks the 'exp' claim"),
        ({"iat": None}, "lacks the 'iat' claim"),
        ({"aud": None}, "lacks the 'aud' claim"),
        ({"role": "root"}, "unknown role"),
        ({"kind": "robot"}, "invalid token"),
    ],
)
def test_bad_claims_are_refused(claims: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "sub": "x",
        "role": "admin",
        "kind": "service",
        "iss": "iss",
        "aud": "aud",
        "iat": NOW,
        "exp": NOW + HOUR,
    }
    merged = {key: value for key, value in {**base, **claims}.items() if value is not None}
    token = jwt.encode(merged, SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=message):
        tokens().verify(token)


def test_other_algorithms_and_forged_signatures_are_refused() -> None:
    claims: dict[str, object] = {"sub": "x", "role": "admin", "kind": "service", "iss": "iss", "aud": "aud"}
    claims |= {"iat": int(NOW.timestamp()), "exp": int((NOW + HOUR).timestamp())}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(AuthError, match="algorithm not allowed"):
        tokens().verify(unsigned)
    hs512 = jwt.encode(claims, SECRET + SECRET, algorithm="HS512")
    with pytest.raises(AuthError, match="algorithm not allowed"):
        tokens().verify(hs512)
    forged = jwt.encode(claims, "z" * 48, algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token"):
        tokens().verify(forged)
    with pytest.raises(AuthError, match="missing bearer token"):
        tokens().verify(None)


def test_user_tokens_follow_app_toml() -> None:
    before = tokens(olga="operator")
    token = before.issue("olga", Role.operator, "user", HOUR, NOW)
    assert before.verify(token).role is Role.operator
    assert tokens(olga="viewer").verify(token).role is Role.viewer  # demoted: at once
    with pytest.raises(AuthError, match="no such user"):
        tokens().verify(token)  # removed: revoked


def test_passwords() -> None:
    auth = tokens(olga="operator")
    assert auth.check_password("olga", "olga-pw") is Role.operator
    assert auth.check_password("olga", "wrong") is None
    assert auth.check_password("nobody", "olga-pw") is None
    assert hash_password("x" * 8).startswith("$argon2id$v=19$m=65536,t=3")  # the library's defaults


def test_the_secret_comes_from_the_environment_and_must_be_long() -> None:
    assert resolve_secret("${env.JWT}", {"JWT": SECRET}) == SECRET
    assert resolve_secret(None, {}) is None
    with pytest.raises(AuthConfigError, match=r"\$\{env.JWT\}, which is not set"):
        resolve_secret("${env.JWT}", {})
    with pytest.raises(AuthConfigError, match="at least 32"):
        resolve_secret("short", {})
    with pytest.raises(AuthConfigError, match="exactly one"):
        resolve_secret("prefix-${env.JWT}", {"JWT": SECRET})
    unconfigured = Tokens(AuthSettings())
    assert not unconfigured.configured
    with pytest.raises(AuthError, match="not configured"):
        unconfigured.verify("anything")


def test_durations_and_headers() -> None:
    assert parse_ttl("8h") == timedelta(hours=8)
    assert parse_ttl("30m") == timedelta(minutes=30)
    assert parse_ttl("7d") == timedelta(days=7)
    assert parse_ttl("90") == timedelta(seconds=90)
    for bad in ("", "0h", "8 hours", "-1h", "999w"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None


def test_triggered_by() -> None:
    assert Principal("alice", Role.operator, "user").triggered_by() == "user:alice"
    assert Principal("alice", Role.operator, "user").triggered_by("cli") == "cli:alice"
    assert Principal("ci-bot", Role.operator, "service").triggered_by() == "api"
    assert Principal("ci-bot", Role.operator, "service").label() == "api:ci-bot"
