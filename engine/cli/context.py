"""What every command shares: finding the install, loading it, and turning known errors into messages.

Bad input ends with a one-paragraph message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from nomaflow.actors.errors import EngineStopping, StoreUnavailable, UnknownJob
from nomaflow.engine.config import ConfigError, Install, load_install
from nomaflow.engine.config.params import ParamError
from nomaflow.engine.store.opening import StoreUnusable

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED = 1  # the run failed or a command could not do its work
EXIT_USAGE = 2  # bad configuration, arguments or params
EXIT_SKIPPED = 3  # the job was already running: this run was recorded as skipped
EXIT_ABORTED = 4  # the run was aborted


@dataclass
class Settings:
    config: Path | None

    def config_path(self) -> Path:
        if self.config is not None:
            return self.config
        from_env = os.environ.get("NOMAFLOW_CONFIG")
        return Path(from_env) if from_env else Path("app.toml")

    def install(self) -> Install:
        path = self.config_path()
        try:
            return load_install(path)
        except ConfigError as exc:
            fail_config(exc)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    # Messages quote config ("[auth] secret"): printed as text, not as Rich markup.
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(code)


def fail_config(error: ConfigError) -> NoReturn:
    count = len(error.problems)
    err.print(f"[bold red]{count} configuration problem{'s' if count != 1 else ''}:[/]")
    for problem in error.problems:
        err.print(f"  {problem}", markup=False)
    raise typer.Exit(EXIT_USAGE)


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine, mapping the errors users cause to clear messages."""
    try:
        return anyio.run(function)
    except ConfigError as exc:
        fail_config(exc)
    except (UnknownJob, ParamError) as exc:
        fail(str(exc).strip("'\""), EXIT_USAGE)
    except (EngineStopping, StoreUnavailable, StoreUnusable) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the job store: {exc}")
    except SQLAlchemyError as exc:
        fail(f"the job store refused: {_first_line(exc)}")
    except BaseExceptionGroup as group:
        # A task group's failure: the database's own error is the one to show, if there is one.
        found = group.subgroup(lambda exc: isinstance(exc, SQLAlchemyError))
        if found is None:
            raise
        fail(f"the job store refused: {_first_line(_leaf(found))}")


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
