"""Where a step connects, and with which credentials, comes from configuration only.

A run's params and earlier steps' outputs are input: an operator (or a remote answering an http step)
chooses them. Were a connector name, an LDAP server or a bind DN taken from them, that input could send
the configured password to a listener of its own. So these fields are checked when the configuration
loads: a connector is named literally; a server, an account or a password may use `${env.NAME}` (the
environment is configuration) and nothing else. The http step, whose URL may come from a param, is held
instead by `[http] allowed_hosts`, checked on every hop.
"""

from __future__ import annotations

from collections.abc import Iterable

from nomaflow.engine.config.templating import TemplateError, references

WHY = "where a step connects, and as whom, comes from configuration, never from params or step outputs"


def named_connector_problems(fields: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """(field, problem) for each connector name, among (field, value) pairs, that holds a template."""
    return [
        (field, f"may not be templated: name a connector declared in app.toml ({WHY})")
        for field, value in fields
        if value is not None and "${" in value
    ]


def configured_value_problems(fields: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(field, problem) for each (field, value) pair whose templates are not all `${env.NAME}`."""
    problems: list[tuple[str, str]] = []
    for field, value in fields:
        if "${" not in value:
            continue
        try:
            found = [reference for _, reference in references(value)]
        except TemplateError as exc:
            problems.append((field, str(exc)))
            continue
        others = [f"${{{reference.text}}}" for reference in found if reference.root != "env"]
        if others:
            problems.append((field, f"may only use ${{env.NAME}} templates, not {', '.join(others)} ({WHY})"))
    return problems
