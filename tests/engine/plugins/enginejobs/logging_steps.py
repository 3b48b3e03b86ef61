"""Step callables that log through the standard logging module, as the libraries steps call do (for the
tests of engine.telemetry.capture). The same callables run async, in a worker thread or in a child."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

from enginejobs.steps import gate

lib = logging.getLogger("lib")


async def warns(text: str) -> dict[str, Any]:
    lib.warning(text)
    return {}


def warns_in_thread(text: str) -> dict[str, Any]:
    """Sync: the python step runs it in a worker thread (or, isolated, in a child process)."""
    lib.warning(text)
    return {}


def warns_from_own_thread(text: str) -> dict[str, Any]:
    """A thread the step starts itself, with the step's context copied into it (as docs/logging.md says)."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(lib.warning, text))
    thread.start()
    thread.join()
    return {}


def logs_lines(prefix: str, count: int) -> dict[str, Any]:
    for number in range(count):
        lib.warning("%s %d", prefix, number)
    return {}


def logs_every_level() -> dict[str, Any]:
    lib.debug("a debug record")
    lib.info("an info record")
    lib.warning("a warning record")
    lib.error("an error record")
    lib.critical("a critical record")
    return {}


def logs_an_exception() -> dict[str, Any]:
    try:
        raise ValueError("the reason")
    except ValueError:
        lib.exception("it failed")
    return {}


def logs_text(text: str) -> dict[str, Any]:
    """Logs `text` as it is given (a secret in it, say)."""
    lib.warning("calling %s", text)
    return {}


def leaves_a_thread_logging(name: str) -> dict[str, Any]:
    """Starts a thread (with the step's context) that logs only once the test opens gate `name`, after
    the step has ended; it sets `<name>:logged` when done."""

    def later() -> None:
        gate(name).wait(30)
        lib.warning("logged after the step ended")
        gate(f"{name}:logged").set()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(later,), daemon=True).start()
    return {}
