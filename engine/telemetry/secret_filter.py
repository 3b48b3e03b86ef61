"""The process log never shows a credential: a logging.Filter that every record passes through on its
way to a handler, whichever library made it (httpx, httpcore, urllib3, asyncpg, ldap3, uvicorn's access
log, our own loggers).

It rewrites a record's message (and its traceback) when it finds, in this order: a secret value the
install knows (connector passwords, the [auth] secret, every `${env.NAME}` a job reads, the credentials
written in step settings), or one the step running in this context sends (engine.steps.redaction's
current scrubber: a token rendered from an earlier step's output, say); a URL's user info; a URL's or a
request line's query string; the value of a credential header or a `password=`-style pair. A record
with none of these is left exactly as it was.

`nomaflow serve` puts the filter on its handlers (engine.telemetry.process_log); a host app gets it on
the handlers it has when Nomaflow starts (engine.server.host). Log records captured into a run's log
(engine.telemetry.capture) are scrubbed the same way.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from sqlalchemy.engine import make_url

from nomaflow.engine.config.load import Install
from nomaflow.engine.config.templating import REDACTED, references
from nomaflow.engine.resources.connectors import ConnectorError, resolve_connector
from nomaflow.engine.steps.redaction import NO_SECRETS, Scrubber, current_scrubber

# scheme://user:password@host -> scheme://***@host
_USERINFO = re.compile(r"""\b([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#@"'<>]+@""")
# A query string after an absolute URL, or after a path that starts a word (an access log's request line).
_QUERY = re.compile(
    r"""((?:\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#"'<>]+|(?:(?<=[\s"'(=\[])|^)(?=/))[^\s?#"'<>]*)\?[^\s#"'<>]+""",
    re.MULTILINE,
)
# "Authorization: Bearer x", "'cookie': 'a=b'", (b'x-api-key', b'k'): the value, to a quote or the line's end.
_CREDENTIAL_HEADER = re.compile(
    r"""(?i)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token)"""
    r"""(['"]?\s*[:=,]\s*(?:b?['"])?\s*)[^'"\r\n]+"""
)
# key=value pairs of a DSN or a command line: password=..., access_token=...
_CREDENTIAL_PAIR = re.compile(
    r"""(?i)\b(password|passwd|pwd|secret|access_token|refresh_token|api_key|apikey|token)=[^\s&"',;)]+"""
)


def scrub_text(text: str, known: Scrubber = NO_SECRETS) -> str:
    """`text` as the process log may show it."""
    text = known(text)
    text = current_scrubber.get()(text)
    if "://" in text:
        text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    if "?" in text:
        text = _QUERY.sub(rf"\1?{REDACTED}", text)
    text = _CREDENTIAL_HEADER.sub(rf"\1\2{REDACTED}", text)
    return _CREDENTIAL_PAIR.sub(rf"\1={REDACTED}", text)


class SecretFilter(logging.Filter):
    """Scrubs every record it sees (never drops one). Put it on handlers: a filter on a logger only sees
    the records made on that very logger, not those of its children."""

    def __init__(self, known: Scrubber = NO_SECRETS) -> None:
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: the handler reports it, as it would have
                message = None
            if message is not None:
                clean = scrub_text(message, self.known)
                if clean != message:
                    record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            told = record.exc_text or logging.Formatter().formatException(record.exc_info)
            clean = scrub_text(told, self.known)
            if clean != told:
                # Formatters print exc_text; without exc_info, none can format the original again.
                record.exc_text, record.exc_info = clean, None
        elif record.exc_text:
            record.exc_text = scrub_text(record.exc_text, self.known)
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info, self.known)
        return True


def known_secrets(install: Install, environ: Mapping[str, str] | None = None) -> Scrubber:
    """Every secret value the install's configuration holds or reads."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name, settings in install.settings.connectors.items():
        try:
            found += resolve_connector(name, settings, install.root, env).secrets
        except ConnectorError:
            continue  # reported when the configuration loaded, or when a step uses it
    try:
        password = make_url(install.database_url).password
    except Exception:  # not a URL SQLAlchemy reads: the store reports it when it starts
        password = None
    if password:
        found.append(str(password))
    secret = install.settings.auth.secret
    for _, reference in references(secret or ""):
        if reference.root == "env" and len(reference.parts) == 2 and env.get(reference.parts[1]):
            found.append(env[reference.parts[1]])
    if secret and "${" not in secret:
        found.append(secret)
    for job in _jobs_and_hooks(install):
        for step in job.steps:
            found += _step_secrets(install, step.type, step.options, env)
    return Scrubber(found)


def _jobs_and_hooks(install: Install) -> Iterable[Any]:
    for job in install.jobs.values():
        yield job
        yield from job.hooks


def _step_secrets(
    install: Install, type_name: str, options: Mapping[str, Any], env: Mapping[str, str]
) -> list[str]:
    found = [
        env[reference.parts[1]]
        for _, reference in references(dict(options))
        if reference.root == "env" and len(reference.parts) == 2 and env.get(reference.parts[1])
    ]
    step_type = install.step_types.get(type_name)
    if step_type is None:
        return found
    try:
        decoded = msgspec.convert(dict(options), step_type.options, strict=False)
    except msgspec.ValidationError:
        return found  # templates in typed fields: those values are only known when the step runs
    # Credentials written in the settings themselves; templated ones are scrubbed when the step runs.
    return found + [value for value in step_type.secrets(decoded) if "${" not in value]


def attach(log_filter: SecretFilter) -> Callable[[], None]:
    """Add `log_filter` to every handler configured now (the root logger's and any other logger's) that
    has no filter for the same secrets yet; return a function that takes it off them again."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    added: list[logging.Handler] = []
    for logger in loggers:
        for handler in logger.handlers:
            if handler in added or any(
                isinstance(existing, SecretFilter) and existing.known.secrets >= log_filter.known.secrets
                for existing in handler.filters
            ):
                continue
            handler.addFilter(log_filter)
            added.append(handler)

    def detach() -> None:
        for handler in added:
            handler.removeFilter(log_filter)

    return detach
