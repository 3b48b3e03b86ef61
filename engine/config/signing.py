"""`[auth] secret`, the key API tokens are signed with: read from app.toml or the environment, and judged.

One function for both places that need it, so that `nomaflow check` refuses exactly what `serve` (and
an embedding app) would: the server's token signer calls it at start-up, the check calls it on the
loaded install.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# HS256 keys shorter than its 256-bit hash are easy to guess offline from one token (RFC 7518 3.2).
MIN_SECRET_LENGTH = 32

_ENV_REFERENCE = re.compile(r"^\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}$")


class SigningSecretError(ValueError):
    """`[auth] secret` cannot sign tokens; `reason` says why (never showing the secret itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"[auth] secret {reason}")
        self.reason = reason


def signing_secret(value: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The signing secret `[auth] secret` names: the text itself or exactly one `${env.NAME}`. None when
    there is none; SigningSecretError when it cannot be used."""
    if value is None:
        return None
    env = os.environ if environ is None else environ
    found = _ENV_REFERENCE.match(value.strip())
    if found:
        name = found.group(1)
        if not env.get(name):
            raise SigningSecretError(f"reads ${{env.{name}}}, which is not set")
        value = env[name]
    elif "${" in value:
        raise SigningSecretError("must be the secret itself or exactly one ${env.NAME}")
    if len(value) < MIN_SECRET_LENGTH:
        raise SigningSecretError(
            f"is {len(value)} characters long; HS256 needs at least {MIN_SECRET_LENGTH} "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        )
    return value
