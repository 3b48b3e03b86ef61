"""What every command shares: finding the install, loading it, and turning known errors into messages.

Bad input ends with a one-paragraph message on stderr and a non-zero exit, never a traceback. Nothing
heavy is imported here at module level: `nomaflow --help` loads this module and must start at once.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

from nomaflow.states import RunState

if TYPE_CHECKING:
    from rich.console import Console

    from nomaflow.engine.config import ConfigError, Install

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed or a command could not do its work
EXIT_USAGE = 2  # bad configuration, arguments or params, unknown job or run
EXIT_SKIPPED = 3  # the job was already running: this run was recorded as skipped
EXIT_ABORTED = 4  # the run was aborted

# A run's final status -> the exit code of the command that waited for it (any other: failed).
STATUS_EXIT: dict[str, int] = {
    RunState.SUCCEEDED: EXIT_OK,
    RunState.SKIPPED: EXIT_SKIPPED,
    RunState.ABORTED: EXIT_ABORTED,
}


def exit_code(final: str | None) -> int:
    return STATUS_EXIT.get(final or "", EXIT_FAILED)


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def out() -> Console:
    """stdout, through Rich (colours on a terminal, plain text in a pipe)."""
    return _console(False)


def err() -> Console:
    return _console(True)


@dataclass
class Settings:
    config: Path | None

    def config_path(self) -> Path:
        if self.config is not None:
            return self.config
        from_env = os.environ.get("NOMAFLOW_CONFIG")
        return Path(from_env) if from_env else Path("app.toml")

    def install(self, *, to_serve: bool = False) -> Install:
        from nomaflow.engine.config import ConfigError, load_install

        path = self.config_path()
        try:
            return load_install(path, to_serve=to_serve)
        except ConfigError as exc:
            fail_config(exc)

    def store_url(self) -> str:
        """The job store's URL, from app.toml alone: what reading the history needs, without loading
        (and validating) every job. Whatever is wrong with app.toml is left to the full load to report,
        in its words."""
        import tomllib

        from nomaflow.engine.config.decode import Collector, decode_struct
        from nomaflow.engine.config.model import AppSettings
        from nomaflow.engine.config.store_url import database_url

        path = self.config_path().resolve()
        if path.is_dir():
            path = path / "app.toml"
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            collector = Collector(str(path))
            settings = decode_struct(raw, AppSettings, "", collector.report)
            if settings is not None and not collector.problems:
                return database_url(path.parent, settings)
        except Exception:  # whatever it is, the full load below reports it, with its file and line
            pass
        return self.install().database_url


def settings(ctx: typer.Context) -> Settings:
    """The install's settings, as the root command read them (`--config`)."""
    found = ctx.find_root().obj
    assert isinstance(found, Settings)
    return found


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    from rich.text import Text

    # Messages quote config ("[auth] secret"): printed as text, not as Rich markup.
    err().print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(code)


def fail_config(error: ConfigError) -> NoReturn:
    count = len(error.problems)
    err().print(f"[bold red]{count} configuration problem{'s' if count != 1 else ''}:[/]")
    for problem in error.problems:
        err().print(f"  {problem}", markup=False)
    raise typer.Exit(EXIT_USAGE)


def exception_text(exc: BaseException) -> str:
    """An exception's message. KeyError (UnknownJob is one) quotes its argument: that quoting is taken
    off, and only that, so a message ending in a quoted name keeps its closing quote."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc)


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine, mapping the errors users cause to clear messages."""
    import anyio

    from nomaflow.actors.errors import EngineStopping, StoreUnavailable, UnknownJob
    from nomaflow.engine.config import ConfigError
    from nomaflow.engine.config.params import ParamError

    stopped = (EngineStopping, StoreUnavailable)
    try:
        return anyio.run(function)
    except ConfigError as exc:
        fail_config(exc)
    except (UnknownJob, ParamError) as exc:
        fail(exception_text(exc), EXIT_USAGE)
    except stopped as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the job store: {exc}")
    except _database_errors() as exc:
        fail(_refused(exc))
    except BaseExceptionGroup as group:
        # A task group's failure: the database's own error is the one to show, if there is one.
        found = group.subgroup(lambda exc: isinstance(exc, _database_errors()))
        if found is None:
            raise
        fail(_refused(_leaf(found)))
    except Exception as exc:
        # StoreUnusable is looked up only now, not imported for its own sake: the store's modules are
        # loaded on first use, so a command that never opened the store cannot get one, and one that
        # did has its module loaded (looking it up before anyio.run missed it: the store was not open).
        database = sys.modules.get("nomaflow.engine.store.database")
        if database is not None and isinstance(exc, database.StoreUnusable):
            fail(str(exc))
        raise


def _database_errors() -> tuple[type[Exception], ...]:
    """The errors a job store's database raises: sqlite3's (the reading commands on a SQLite file),
    and SQLAlchemy's if it was loaded (looked up, not imported: a command that never loaded it cannot
    have raised one, and importing it costs a reading command a fifth of a second)."""
    import sqlite3

    found: list[type[Exception]] = [sqlite3.Error]
    if (sqlalchemy_errors := sys.modules.get("sqlalchemy.exc")) is not None:
        found.append(sqlalchemy_errors.SQLAlchemyError)
    return tuple(found)


# How SQLite and PostgreSQL say a table is missing: a store that was never migrated.
_NO_TABLE = re.compile(r'no such table: ly2_|relation "ly2_\w+" does not exist')


def _refused(exc: BaseException) -> str:
    said = _first_line(exc)
    if _NO_TABLE.search(said):
        return (
            f"the job store has no Nomaflow tables yet ({said}): "
            "run `nomaflow db upgrade`, or start the engine once"
        )
    return f"the job store refused: {said}"


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
