"""The jobs an engine knows, by name: its install's, each job's hooks as jobs of their own
(`<job>.on-failure`, `<job>.on-success`), and those declared in Python with `Engine.define_job`, which
get exactly the checks a jobs.toml table gets. Each job's plan, what the supervisor runs, is made once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from nomaflow.actors.errors import UnknownJob
from nomaflow.actors.plan import JobPlan
from nomaflow.engine.config.decode import Collector
from nomaflow.engine.config.jobs import JobDefinition, decode_job
from nomaflow.engine.config.load import Install
from nomaflow.engine.config.problems import ConfigError, did_you_mean


class Catalog:
    def __init__(self, install: Install) -> None:
        self._install = install
        self._jobs: dict[str, JobDefinition] = dict(install.jobs)
        for job in list(self._jobs.values()):
            self._jobs.update({hook.name: hook for hook in job.hooks})
        # The jobs as they are now, read-only: what hooks and recovery look jobs up in.
        self.jobs: Mapping[str, JobDefinition] = MappingProxyType(self._jobs)
        self._plans: dict[str, JobPlan] = {}

    def job(self, name: str) -> JobDefinition:
        job = self._jobs.get(name)
        if job is None:
            raise UnknownJob(f"no job named '{name}'{did_you_mean(name, self._jobs)}")
        return job

    def plan(self, job: str) -> JobPlan:
        """The job's plan for the supervisor (the actors' JobCatalog port); UnknownJob if there is none."""
        plan = self._plans.get(job)
        if plan is None:
            plan = self._plans[job] = self.job(job).plan()
        return plan

    def define(self, table: dict[str, Any], *, app: str) -> JobDefinition:
        """Declare a job from a table shaped like a jobs.toml [[jobs]] entry; ConfigError names every
        problem, as `nomaflow check` would."""
        collector = Collector("<python>")
        job = decode_job(
            table,
            "",
            collector.report,
            default_app=app,
            default_timezone=self._install.settings.jobs.timezone,
            step_types=self._install.step_types,
            source="<python>",
        )
        if job is not None and job.name in self._jobs:
            collector.report("name", f"job '{job.name}' is already declared in {self._jobs[job.name].source}")
        if job is None or collector.problems:
            raise ConfigError(collector.problems)
        self._jobs[job.name] = job
        self._jobs.update({hook.name: hook for hook in job.hooks})
        self._plans.pop(job.name, None)
        return job
