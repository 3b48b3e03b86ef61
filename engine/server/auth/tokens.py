"""Who is calling: HS256 JWTs with required exp/iat/iss/aud/sub, roles, and UI users' argon2 passwords.

Two kinds of token share one format and one secret:
- `service` tokens, minted by `nomaflow token create` for scripts and orchestrators;
- `user` tokens, handed out by POST /admin/login to the UI users listed in app.toml. A user token is
  checked against app.toml on every request: removing the user revokes it, and a changed role applies
  at once.

The algorithm is pinned (HS256): a token naming any other, `none` included, is refused before its
signature is even looked at.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Literal

import jwt
from argon2 import Parameters, PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nomaflow.engine.config.model import AuthSettings, UserSettings
from nomaflow.engine.config.signing import SigningSecretError, signing_secret

ALGORITHM = "HS256"
MAX_TTL = timedelta(days=366)
LEEWAY_SECONDS = 10  # clock skew tolerated on exp/iat between the token's issuer and this server

TokenKind = Literal["user", "service"]
CallerKind = Literal["user", "service", "host"]  # host: signed in by the host application
_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    viewer = 1  # read jobs, runs, logs, diagrams; watch live
    operator = 2  # run, abort, retry
    admin = 3  # pause and resume jobs

    @classmethod
    def named(cls, name: str) -> Role:
        try:
            return cls[name]
        except KeyError:
            raise ValueError(
                f"unknown role '{name}': expected one of {', '.join(role.name for role in cls)}"
            ) from None


class AuthError(Exception):
    """The request carries no usable credentials (answered with 401)."""


# [auth] secret cannot be used as it is: judged by the one function `nomaflow check` also calls.
AuthConfigError = SigningSecretError
resolve_secret = signing_secret


@dataclass(frozen=True)
class Principal:
    """Who is calling, with which role. From a Nomaflow token (`user`: a UI user's sign-in, `service`:
    `nomaflow token create`), or from the host application's own sign-in (`host`, the default, so a
    host's auth callable answers `Principal("ada@example.com", Role.operator)`)."""

    subject: str
    role: Role
    kind: CallerKind = "host"

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            raise TypeError(
                f"a Principal's role must be Role.viewer, Role.operator or Role.admin, not {self.role!r}"
            )
        if not isinstance(self.subject, str) or not self.subject:
            raise ValueError(f"a Principal's subject must be a non-empty string, not {self.subject!r}")

    def can(self, role: Role) -> bool:
        return self.role >= role

    def triggered_by(self, client: str | None = None) -> str:
        """The run's `triggered_by`: `cli:<sub>` from the remote CLI, `user:<sub>` for a person (a UI
        user's token or the host's sign-in), else `api` (the subject is kept in the audit log instead)."""
        if client == "cli":
            return f"cli:{self.subject}"
        if self.kind in ("user", "host"):
            return f"user:{self.subject}"
        return "api"

    def label(self, client: str | None = None) -> str:
        """Who did it, for records that have no `triggered_by` convention (a paused job's changed_by)."""
        by = self.triggered_by(client)
        return f"api:{self.subject}" if by == "api" else by


def parse_ttl(text: str) -> timedelta:
    """`8h`, `30m`, `7d`, `2w`, `3600s` or `3600` (seconds)."""
    found = _TTL.match(text)
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"expected a duration such as 30m, 8h or 7d, got '{text}'")
    ttl = timedelta(seconds=int(found.group(1)) * _TTL_UNITS[found.group(2)])
    if ttl > MAX_TTL:
        raise ValueError(f"a token may live at most {MAX_TTL.days} days, not '{text}'")
    return ttl


class Tokens:
    """Mints and checks tokens for one install's [auth] settings."""

    def __init__(self, settings: AuthSettings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.secret = resolve_secret(settings.secret, environ)
        self._hasher = PasswordHasher()
        self._dummy_hash: str | None = None
        self._dummy_hasher = _hasher_like(settings.users.values())

    @property
    def configured(self) -> bool:
        return self.secret is not None

    def _secret(self) -> str:
        if self.secret is None:
            raise AuthError("authentication is not configured on this server: set [auth] secret in app.toml")
        return self.secret

    def issue(self, subject: str, role: Role, kind: TokenKind, ttl: timedelta, now: datetime) -> str:
        if not subject or len(subject) > 200:
            raise ValueError("the token's subject must be 1 to 200 characters")
        claims = {
            "sub": subject,
            "role": role.name,
            "kind": kind,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret(), algorithm=ALGORITHM)

    def verify(self, token: str | None) -> Principal:
        """The principal a bearer token stands for; AuthError saying why not."""
        secret = self._secret()
        if not token:
            raise AuthError("missing bearer token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token is from another issuer") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(f"token algorithm not allowed (only {ALGORITHM})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the '{exc.claim}' claim") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
        subject, kind = claims.get("sub"), claims.get("kind")
        if not isinstance(subject, str) or kind not in ("user", "service"):
            raise AuthError("invalid token")
        try:
            role = Role.named(str(claims.get("role")))
        except ValueError:
            raise AuthError("invalid token: unknown role") from None
        if kind == "user":
            user = self.settings.users.get(subject)
            if user is None:
                raise AuthError("invalid token: no such user")
            role = Role.named(user.role)  # a role changed in app.toml applies at once
        return Principal(subject=subject, role=role, kind=kind)

    def check_password(self, username: str, password: str) -> Role | None:
        """The user's role if the password is right, else None. Slow on purpose (argon2id), and as
        slow for an unknown user as for a wrong password. Call it from a worker thread."""
        user = self.settings.users.get(username)
        if user is None:
            # Verified against a hash made with the users' own argon2 parameters: an unknown name
            # costs what a known one does, in time and in memory.
            if self._dummy_hash is None:
                self._dummy_hash = self._dummy_hasher.hash(uuid.uuid4().hex)
            with contextlib.suppress(VerificationError):
                self._dummy_hasher.verify(self._dummy_hash, password)
            return None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return Role.named(user.role)


def _hasher_like(users: Iterable[UserSettings]) -> PasswordHasher:
    """A hasher with the argon2 parameters most of the users' hashes have (the library's defaults
    when there are none, or none can be read)."""
    found: dict[str, tuple[int, Parameters]] = {}
    for user in users:
        with contextlib.suppress(InvalidHashError, ValueError):
            parameters = extract_parameters(user.password_hash)
            seen, _ = found.get(repr(parameters), (0, parameters))  # Parameters is not hashable
            found[repr(parameters)] = (seen + 1, parameters)
    if not found:
        return PasswordHasher()
    _, common = max(found.values(), key=lambda counted: counted[0])
    return PasswordHasher.from_parameters(common)


def hash_password(password: str) -> str:
    """An argon2id hash for `[auth.users.<name>] password_hash`."""
    return PasswordHasher().hash(password)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
