"""Prometheus metrics of this process's engine, fed by its event bus and read at scrape time.

Counters count since the process started (Prometheus handles the reset on restart); each server
process is its own scrape target. One registry per host object, never the library's global one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nomaflow.actors.events import AnyEvent, RunFinished, RunSkipped, StepFinished, StepStarted
from nomaflow.engine.engine import Engine
from nomaflow.states import RunState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, float("inf"))


class Metrics(Collector):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._runs: Counter[tuple[str, str]] = Counter()
        self._step_started: dict[tuple[str, int], datetime] = {}
        self._engine: Engine | None = None
        self.socketio_clients = 0
        self.socketio_dropped = 0
        self.step_duration = Histogram(
            "nomaflow_step_duration_seconds",
            "How long steps took, from their first attempt's start to their end (retries included).",
            ["job", "step", "status"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    def attach(self, engine: Engine) -> None:
        self._engine = engine
        engine.bus.add_listener(self._on_event, only=(StepStarted, StepFinished, RunFinished, RunSkipped))

    def _on_event(self, event: AnyEvent) -> None:
        if isinstance(event, StepStarted):
            self._step_started.setdefault((event.run_id, event.position), event.at)
        elif isinstance(event, StepFinished):
            started = self._step_started.pop((event.run_id, event.position), None)
            if started is not None:
                seconds = max(0.0, (event.at - started).total_seconds())
                self.step_duration.labels(event.job, event.step, event.status).observe(seconds)
        elif isinstance(event, RunFinished):
            self._runs[(event.job, event.status)] += 1
            for key in [key for key in self._step_started if key[0] == event.run_id]:
                del self._step_started[key]
        elif isinstance(event, RunSkipped):
            self._runs[(event.job, RunState.SKIPPED.value)] += 1

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collected fresh on every scrape

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "nomaflow_runs", "Runs that ended in this process, by job and status.", labels=["job", "status"]
        )
        for (job, status), count in sorted(self._runs.items()):
            runs.add_metric([job, status], count)
        yield runs
        in_flight = GaugeMetricFamily(
            "nomaflow_runs_in_flight", "Runs in flight in this process, by job.", labels=["job"]
        )
        leader = GaugeMetricFamily(
            "nomaflow_scheduler_leader", "1 if this process runs the cron scheduler, else 0."
        )
        paused = GaugeMetricFamily("nomaflow_jobs_paused", "Jobs paused by an operator.")
        engine = self._engine
        if engine is not None:
            by_job = Counter(view.job for view in engine.tracker.runs.values())
            for job in sorted(engine.jobs):
                in_flight.add_metric([job], by_job.get(job, 0))
            leader.add_metric([], 1 if engine.scheduler_running else 0)
            paused.add_metric([], sum(1 for job in engine.jobs if engine.paused(job)))
            events = CounterMetricFamily("nomaflow_events_published", "Events published on the bus.")
            events.add_metric([], engine.bus.published)
            yield events
            yield from _store_metrics(engine)
        yield in_flight
        yield leader
        yield paused
        clients = GaugeMetricFamily(
            "nomaflow_socketio_clients", "Socket.IO clients connected to this process."
        )
        clients.add_metric([], self.socketio_clients)
        yield clients
        dropped = CounterMetricFamily(
            "nomaflow_socketio_dropped_events",
            "Events not sent to Socket.IO clients because the send queue was full (clients catch up by seq).",
        )
        dropped.add_metric([], self.socketio_dropped)
        yield dropped

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _store_metrics(engine: Engine) -> Iterator[Metric]:
    """Whether the job store takes writes, and what its outages cost (see docs/operations.md)."""
    health = engine.store_health
    degraded = GaugeMetricFamily(
        "nomaflow_store_degraded",
        "1 while the job store does not take writes (the engine waits it out), else 0.",
    )
    degraded.add_metric([], 0 if health.ok else 1)
    yield degraded
    outages = CounterMetricFamily("nomaflow_store_outages", "Times the job store became unavailable.")
    outages.add_metric([], health.outages)
    yield outages
    stats = engine.store_stats
    if stats is not None:
        retries = CounterMetricFamily(
            "nomaflow_store_write_retries",
            "Groups of writes tried again after the store could not take them.",
        )
        retries.add_metric([], stats.retries)
        yield retries
        refused = CounterMetricFamily(
            "nomaflow_store_refused_admissions", "Runs not started because the store could not take them."
        )
        refused.add_metric([], stats.refused_admissions)
        yield refused
    dropped = CounterMetricFamily(
        "nomaflow_log_lines_dropped",
        "Step log lines dropped because the backlog waiting for the store was full.",
    )
    dropped.add_metric([], engine.log_lines_dropped)
    yield dropped
