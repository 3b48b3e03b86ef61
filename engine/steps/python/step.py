"""The `python` step: call `callable = "package.module:function"` from the install's plugins with `kwargs`.

Async callables are awaited on the event loop and cancelled on abort or timeout. Sync callables run in a
worker thread so the loop never blocks; Python cannot kill a thread, so on abort or timeout the thread is
abandoned and should notice `ctx.cancelled` (docs/steps/python.md). With `isolation = "process"` the
callable runs in a child process, which abort and timeouts terminate (engine.steps.isolation). A
callable receives the step context if it has a parameter named `ctx` or `context` (or one annotated
`StepContext`). Its JSON-able return value becomes the step's output.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any, Literal

import anyio
import msgspec

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.steps.base import StepEnvironment, StepType
from nomaflow.engine.steps.python.isolation import run_in_child

_CONTEXT_NAMES = ("ctx", "context")


class PythonOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    callable: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    # "thread": in this process (async on the event loop, sync in a worker thread); "process": in a
    # child process that abort and timeouts terminate (engine.steps.isolation).
    isolation: Literal["thread", "process"] = "thread"


class CallableNotFound(Exception):
    pass


def resolve_callable(target: str) -> Callable[..., Any]:
    """Import "package.module:function" (dots after the colon walk attributes)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CallableNotFound(f"expected 'package.module:function', got '{target}'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CallableNotFound(f"cannot import module '{module_name}': {exc}") from exc
    except Exception as exc:
        raise CallableNotFound(
            f"importing module '{module_name}' failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(obj, part):
            public = [name for name in dir(obj) if not name.startswith("_")]
            raise CallableNotFound(f"'{module_name}' has no attribute '{part}'{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CallableNotFound(f"'{target}' is not callable")
    return obj  # type: ignore[no-any-return]


def context_parameter(function: Callable[..., Any]) -> str | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    for name, parameter in signature.parameters.items():
        annotation = parameter.annotation
        if name in _CONTEXT_NAMES or annotation is StepContext or annotation == "StepContext":
            return name
    return None


def _is_async(function: Callable[..., Any]) -> bool:
    target = function.func if isinstance(function, functools.partial) else function
    # A callable object with an async __call__ counts as async too.
    call = getattr(type(target), "__call__", None)  # noqa: B004 - looking for an async __call__
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)


@functools.lru_cache(maxsize=4096)
def _introspected(target: str) -> tuple[Callable[..., Any], str | None, bool]:
    """The callable behind `target`, the name of its context parameter, and whether it is async.
    Looked up once per target: a module is imported once anyway, and inspecting a signature costs
    more than a no-op step. (A failed lookup is not cached: lru_cache keeps no exceptions.)"""
    function = resolve_callable(target)
    return function, context_parameter(function), _is_async(function)


class PythonStep(StepType[PythonOptions]):
    name = "python"
    options = PythonOptions

    def __init__(self, env: StepEnvironment) -> None:
        super().__init__(env)
        self._threads = int(env.settings.get("worker_threads", 20))
        self._limiter: anyio.CapacityLimiter | None = None

    def check(self, options: PythonOptions) -> list[tuple[str, str]]:
        try:
            function = resolve_callable(options.callable)
        except CallableNotFound as exc:
            return [("callable", str(exc))]
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return []
        context = context_parameter(function)
        given = set(options.kwargs) | ({context} if context else set())
        parameters = signature.parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        problems: list[tuple[str, str]] = []
        if not takes_any:
            for key in options.kwargs:
                if key not in parameters:
                    problems.append(
                        (
                            f"kwargs.{key}",
                            f"{options.callable} takes no argument '{key}'{did_you_mean(key, parameters)}",
                        )
                    )
        for name, parameter in parameters.items():
            required = parameter.default is inspect.Parameter.empty and parameter.kind in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY,
            )
            if required and name not in given:
                problems.append(
                    ("kwargs", f"{options.callable} needs argument '{name}', which kwargs does not give")
                )
        return problems

    async def run(self, ctx: StepContext, options: PythonOptions) -> Any:
        kwargs = dict(options.kwargs)
        if options.isolation == "process":
            return await run_in_child(ctx, options.callable, kwargs)
        try:
            function, context, is_async = _introspected(options.callable)
        except CallableNotFound as exc:
            raise PermanentStepFailure(str(exc)) from exc
        if context is not None:
            kwargs[context] = ctx
        if is_async:
            return await function(**kwargs)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._threads)
        return await anyio.to_thread.run_sync(
            functools.partial(function, **kwargs), abandon_on_cancel=True, limiter=self._limiter
        )
