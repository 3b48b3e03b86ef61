"""Commands that show a run as it goes or as it went: `job run`, `job retry --wait`, `job logs` (and
`--follow`). Every line goes through the one renderer (engine/cli/lines.py); with `--output json` a
stream is one LogLineOut object per line and a finished run one RunDetail document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nomaflow.engine.cli import remote as remote_cli
from nomaflow.engine.cli.context import EXIT_SKIPPED, EXIT_USAGE, exit_code, fail, run_async
from nomaflow.engine.cli.lines import from_event, render, shown
from nomaflow.engine.cli.output import Output, print_json, print_json_line, print_segments
from nomaflow.engine.cli.show import status
from nomaflow.states import RunState

if TYPE_CHECKING:
    from nomaflow.actors.events import AnyEvent
    from nomaflow.engine.config import Install


def _printer(transitions: bool) -> Any:
    def each(entry: Mapping[str, Any]) -> None:
        if shown(entry, transitions):
            print_segments(render(entry))

    return each


def _started(run_id: str, job: str, state: str, by: str) -> None:
    print_segments([("run ", ""), (run_id, "bold"), (f" of {job}: ", ""), status(state), (f" ({by})", "")])


def run_here(install: Install, name: str, params: list[str], dry_run: bool, output: Output) -> int:
    """`job run` in this process: the run's lines as they happen, or with -o json its RunDetail."""
    from nomaflow.engine.cli import local
    from nomaflow.engine.config.params import ParamError, parse_param_text, split_assignment

    job = install.jobs.get(name)
    if job is None:
        from nomaflow.engine.config.problems import did_you_mean

        fail(f"no job named '{name}'{did_you_mean(name, install.jobs)}", EXIT_USAGE)
    overrides: dict[str, Any] = {}
    try:
        for assignment in params:
            key, text = split_assignment(assignment)
            overrides[key] = parse_param_text(name, job.params, key, text)
    except ParamError as exc:
        fail(str(exc), EXIT_USAGE)
    quiet = output is Output.json
    each = _printer(transitions=True)

    def started(run_id: str, by: str) -> None:
        if not quiet:
            _started(run_id, name, RunState.RUNNING, by)

    def event(item: AnyEvent) -> None:
        if not quiet:
            each(from_event(item))

    run_id, final = run_async(lambda: local.run_job(install, name, overrides, dry_run, started, event))
    if quiet:
        detail, _ = run_async(lambda: local.run(install.database_url, run_id))
        print_json(detail)
    return exit_code(final)


def _wait_there(remote: remote_cli.Remote, run_id: str, output: Output) -> int:
    if output is Output.json:
        code = remote_cli.poll(remote, run_id, lambda _line: None, abort_on_interrupt=True)
        print_json(remote_cli.run(remote, run_id, with_logs=False)[0])
        return code
    return remote_cli.follow(remote, run_id, _printer(transitions=True), abort_on_interrupt=True)


def run_there(
    remote: remote_cli.Remote, name: str, params: list[str], dry_run: bool, wait: bool, output: Output
) -> int:
    """`job run --server`: start it there; with --wait, follow it to its end."""
    started = remote_cli.trigger(remote, name, params, dry_run)
    if output is Output.table:
        _started(started["run_id"], name, started["status"], started["triggered_by"])
    if started["status"] == RunState.SKIPPED or not wait:
        if output is Output.json:
            print_json(started)
        return EXIT_SKIPPED if started["status"] == RunState.SKIPPED else 0
    return _wait_there(remote, started["run_id"], output)


def retry_there(remote: remote_cli.Remote, run_id: str, wait: bool, output: Output) -> int:
    again = remote_cli.retry(remote, run_id)
    if output is Output.table:
        print_segments(
            [("run ", ""), (again["run_id"], "bold"), (f" retries {run_id}: ", ""), status(again["status"])]
        )
    if again["status"] == RunState.SKIPPED or not wait:
        if output is Output.json:
            print_json(again)
        return EXIT_SKIPPED if again["status"] == RunState.SKIPPED else 0
    return _wait_there(remote, again["run_id"], output)


def follow_logs(remote: remote_cli.Remote, run_id: str, transitions: bool, output: Output) -> int:
    """`job logs --follow`: live lines until the run ends; with -o json one LogLineOut per line."""
    if output is Output.json:
        return remote_cli.poll(remote, run_id, print_json_line)
    return remote_cli.follow(remote, run_id, _printer(transitions), abort_on_interrupt=False)


def print_logs(document: Mapping[str, Any], transitions: bool, output: Output) -> None:
    if output is Output.json:
        print_json(document)
        return
    each = _printer(transitions)
    for line in document["lines"]:
        each(line)
