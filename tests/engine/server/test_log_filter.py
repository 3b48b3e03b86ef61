"""Embedded, the host puts its secret filter on the handlers the process has while it runs, and takes
it off when it stops; `redact_logs=False` leaves them alone."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.server.conftest import serve

pytestmark = pytest.mark.anyio

LINE = 'HTTP Request: GET http://api.example.com/x?access_token=abc123 "HTTP/1.1 200 OK"'


@pytest.fixture
def root_output() -> Iterator[io.StringIO]:
    """A handler of the host application's own, on the root logger, configured before Nomaflow starts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # Only the line under test: whether the engine's own INFO lines reach the root depends on the levels
    # that tests before this one left configured, which is not what is checked here.
    handler.addFilter(lambda record: record.name == "httpx")
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


async def test_the_hosts_handlers_get_the_filter_while_nomaflow_runs(
    tmp_path: Path, root_output: io.StringIO
) -> None:
    httpx_log = logging.getLogger("httpx")
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}") as served:
        httpx_log.warning(LINE)
        [hosts] = [
            item for item in logging.getLogger().handlers if getattr(item, "stream", None) is root_output
        ]
        assert served.host.log_filter in hosts.filters
    httpx_log.warning(LINE)
    assert root_output.getvalue().splitlines() == [
        'HTTP Request: GET http://api.example.com/x?*** "HTTP/1.1 200 OK"',
        LINE,  # Nomaflow stopped: the host's handler is as it was
    ]


async def test_redact_logs_false_leaves_the_handlers_alone(tmp_path: Path, root_output: io.StringIO) -> None:
    async with serve(f"sqlite+aiosqlite:///{tmp_path / 'nomaflow.db'}", redact_logs=False):
        logging.getLogger("httpx").warning(LINE)
    assert root_output.getvalue().splitlines() == [LINE]
