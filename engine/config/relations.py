"""Checks between two settings of app.toml, which no single field's bounds can express."""

from __future__ import annotations

from nomaflow.engine.config.model import AppSettings


def _at_least_twice(
    path: str, value: float, other_path: str, other: float, why: str
) -> list[tuple[str, str]]:
    if value >= 2 * other:
        return []
    return [(path, f"expected at least twice {other_path} ({other:g}), so that {why}; got {value:g}")]


def relation_problems(settings: AppSettings) -> list[tuple[str, str]]:
    """(field path, what is wrong) for every relation that does not hold."""
    jobs = settings.jobs
    limits = settings.auth.login_limits
    found = _at_least_twice(
        "jobs.interrupted_after_seconds",
        jobs.interrupted_after_seconds,
        "jobs.heartbeat_seconds",
        jobs.heartbeat_seconds,
        "one late heartbeat never gets a live run failed as interrupted",
    )
    found += _at_least_twice(
        "jobs.leader_lease_seconds",
        jobs.leader_lease_seconds,
        "jobs.leader_renew_seconds",
        jobs.leader_renew_seconds,
        "the leader renews its lease before it runs out",
    )
    if limits.backoff_max_seconds < limits.backoff_initial_seconds:
        found.append(
            (
                "auth.login_limits.backoff_max_seconds",
                f"expected at least auth.login_limits.backoff_initial_seconds "
                f"({limits.backoff_initial_seconds:g}); got {limits.backoff_max_seconds:g}",
            )
        )
    return found
