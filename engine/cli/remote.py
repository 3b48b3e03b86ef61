"""The CLI against a running server (`--server`/NOMAFLOW_SERVER with `--token`/NOMAFLOW_TOKEN): the same
commands, through the REST API and Socket.IO instead of an engine in this process.

Runs started from here are recorded as `cli:<token subject>` (the `X-Nomaflow-Client: cli` header;
the name always comes from the token). Exit codes are the in-process ones: 0 succeeded, 1 failed,
2 bad usage, 3 skipped, 4 aborted. What the server answers is handed back as it came: it already has
the shapes `--output json` prints.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from nomaflow.engine.cli.context import EXIT_FAILED, EXIT_USAGE, err, exit_code, fail
from nomaflow.engine.cli.lines import from_event

if TYPE_CHECKING:
    from nomaflow.engine.client import NomaflowClient, NomaflowError

EXIT_INTERRUPTED = 130  # as a shell reports a command ended by SIGINT
Shape = dict[str, Any]
Entry = Callable[[Shape], None]


def _refused(server: str, exc: NomaflowError) -> NoReturn:
    fail(f"{server} answered {exc}", EXIT_USAGE if exc.status_code in (404, 422) else EXIT_FAILED)


@dataclass(frozen=True)
class Remote:
    server: str
    token: str | None

    def need_token(self) -> str:
        if not self.token:
            fail(
                f"talking to {self.server} needs a token: pass --token or set NOMAFLOW_TOKEN "
                "(`nomaflow token create` or POST /admin/login makes one)",
                EXIT_USAGE,
            )
        return self.token

    @contextmanager
    def client(self) -> Iterator[NomaflowClient]:
        """A REST client whose errors end the command with a message, never a traceback."""
        import httpx

        from nomaflow.engine.client import NomaflowClient, NomaflowError

        with NomaflowClient(self.server, self.need_token(), client="cli") as client:
            try:
                yield client
            except NomaflowError as exc:
                _refused(self.server, exc)
            except httpx.HTTPError as exc:
                fail(f"cannot reach {self.server}: {exc}")


def from_options(server: str | None, token: str | None) -> Remote | None:
    server = server or os.environ.get("NOMAFLOW_SERVER") or None
    if not server:
        return None
    return Remote(server=server, token=token or os.environ.get("NOMAFLOW_TOKEN") or None)


def jobs(remote: Remote) -> list[Shape]:
    with remote.client() as client:
        return client.jobs()


def pause(remote: Remote, name: str, reason: str | None, paused: bool) -> Shape:
    with remote.client() as client:
        return client.pause(name, reason) if paused else client.resume(name, reason)


def trigger(remote: Remote, name: str, params: list[str], dry_run: bool) -> Shape:
    """Start the job on the server, its params checked here first against what it declares."""
    from nomaflow.engine.config.params import ParamError, parse_param_text, split_assignment

    with remote.client() as client:
        declared = client.job(name)["params"]
        overrides: dict[str, Any] = {}
        try:
            for assignment in params:
                key, text = split_assignment(assignment)
                overrides[key] = parse_param_text(name, declared, key, text)
        except ParamError as exc:
            fail(str(exc), EXIT_USAGE)
        return client.trigger(name, overrides, dry_run=dry_run)


def logs(remote: Remote, run_id: str) -> Shape:
    """The run's whole log, as one `GET .../logs` answer would hold it (LogsOut)."""
    with remote.client() as client:
        lines: list[Shape] = []
        after = 0
        while True:
            page = client.logs(run_id, after_seq=after)
            if not page["lines"]:
                return {"lines": lines, "last_seq": after, "run_status": page["run_status"]}
            lines.extend(page["lines"])
            after = page["last_seq"]


def poll(remote: Remote, run_id: str, each: Entry, *, abort_on_interrupt: bool = False) -> int:
    """Each log line of the run as the server stores it, through REST long-polls, until the run ends:
    the stream `--output json` prints, every object a `GET .../logs` line. The run's exit code. Ctrl-C
    asks the server to abort the run when `abort_on_interrupt` (the lines go on to its end), else
    stops following."""
    with remote.client() as client:
        after = 0
        while True:
            try:
                for line in client.stream_logs(run_id, after_seq=after):
                    each(line)
                    after = line["seq"]
                return exit_code(client.run(run_id)["status"])
            except KeyboardInterrupt:
                if not abort_on_interrupt:
                    return EXIT_INTERRUPTED
                err().print(f"[yellow]SIGINT: asking the server to abort run {run_id}[/]")
                client.abort(run_id, "interrupted from the CLI (SIGINT)")
                abort_on_interrupt = False  # a second Ctrl-C stops following


def follow(remote: Remote, run_id: str, each: Entry, *, abort_on_interrupt: bool) -> int:
    """Each line of the run's log as it happens (Socket.IO, gaps filled through REST), live events
    turned into the rows they are stored as; the exit code of the run's final status."""
    import anyio
    import httpx

    from nomaflow.engine.client import CaughtUpLine, FollowError, NomaflowError, RunFollower

    token = remote.need_token()
    follower = RunFollower(remote.server, token, run_id, client="cli")

    async def main() -> str | None:
        problem: Exception | None = None
        async with anyio.create_task_group() as group:
            if abort_on_interrupt:
                group.start_soon(_abort_on_interrupt, remote, token, run_id)
            # Caught here, not around the task group, which would wrap it in an ExceptionGroup.
            try:
                async for item in follower:
                    each(_as_dict(item) if isinstance(item, CaughtUpLine) else from_event(item))
            except (NomaflowError, FollowError, httpx.HTTPError, OSError) as exc:
                problem = exc
            group.cancel_scope.cancel()
        if problem is not None:
            raise problem
        return follower.status

    try:
        final = anyio.run(main)
    except NomaflowError as exc:
        _refused(remote.server, exc)
    except FollowError as exc:
        fail(f"cannot follow run {run_id}: {exc}")
    except (httpx.HTTPError, OSError) as exc:
        fail(f"cannot reach {remote.server}: {exc}")
    return exit_code(final)


def _as_dict(line: Any) -> Shape:
    import msgspec

    shape: Shape = msgspec.structs.asdict(line)
    return shape


async def _abort_on_interrupt(remote: Remote, token: str, run_id: str) -> None:
    import anyio
    import httpx
    from rich.text import Text

    from nomaflow.engine.client import NomaflowClient, NomaflowError

    def abort(reason: str) -> None:
        with NomaflowClient(remote.server, token, client="cli") as client:
            client.abort(run_id, reason)

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            name = signal.Signals(received).name
            err().print(f"[yellow]{name}: asking the server to abort run {run_id}[/]")
            try:
                await anyio.to_thread.run_sync(abort, f"interrupted from the CLI ({name})")
            except (NomaflowError, httpx.HTTPError) as exc:
                # The follow goes on: it ends with the run, or fails on its own if the server is gone.
                err().print(Text.assemble(("error:", "bold red"), f" could not ask for the abort: {exc}"))


def abort(remote: Remote, run_id: str, reason: str | None) -> Shape:
    with remote.client() as client:
        return client.abort(run_id, reason)


def retry(remote: Remote, run_id: str) -> Shape:
    with remote.client() as client:
        return client.retry(run_id)


def runs(remote: Remote, job: str | None, status: str | None, limit: int) -> Shape:
    with remote.client() as client:
        return client.runs(job=job, status=status, limit=limit)


def run(remote: Remote, run_id: str, *, with_logs: bool) -> tuple[Shape, list[Shape]]:
    with remote.client() as client:
        found = client.run(run_id)
    return found, (logs(remote, run_id)["lines"] if with_logs else [])


def diagram(remote: Remote, run_id: str) -> Shape:
    with remote.client() as client:
        return client.diagram(run_id)
