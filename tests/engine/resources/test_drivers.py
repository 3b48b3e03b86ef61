"""Optional drivers: an install that needs a driver this Python lacks gets a configuration problem that
names the extra to install, and one that does not need it loads as before.

A missing driver is simulated by setting its name to None in sys.modules, which is what `import` and
`importlib.util.find_spec` then take for "not installed"; tests/e2e/test_optional_drivers.py does the
same in real `nomaflow` processes, and tests/e2e/test_wheel.py in a venv without the extras.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nomaflow.engine.config import ConfigError, load_install
from nomaflow.engine.resources.drivers import EXTRAS, installed, missing_driver
from tests.engine.config.test_load import write_install

WAREHOUSE_APP = """\
    [connectors.warehouse]
    url = "postgresql://reporter@db.example/warehouse"

    [connectors.crm]
    url = "mariadb://reporter@crm.example/crm"
"""
SQL_JOBS = """\
    [[jobs]]
    name = "nightly"

    [[jobs.steps]]
    name = "totals"
    type = "sql_query"
    connector = "warehouse"
    query = "totals:read"

    [[jobs.steps]]
    name = "customers"
    type = "sql_query"
    connector = "crm"
    query = "totals:read"
"""
LDAP_JOBS = """\
    [[jobs]]
    name = "directory"

    [[jobs.steps]]
    name = "people"
    type = "ldap_sync"
    server = "ldap://ldap.example"
    base_dn = "ou=people,dc=example,dc=org"
    attributes = { uid = "uid", cn = "name" }
    connector = "default"
    table = "people"
    key = "uid"
"""


def _sql_install(root: Path) -> Path:
    app_toml = write_install(root, SQL_JOBS, WAREHOUSE_APP)
    (root / "plugins" / "billing" / "queries").mkdir()
    (root / "plugins" / "billing" / "queries" / "totals.sql").write_text("-- name: totals\nSELECT 1\n")
    return app_toml


def _problems(app_toml: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_install(app_toml)
    return [str(problem) for problem in raised.value.problems]


def _without(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_the_message_names_the_extra_or_the_package() -> None:
    assert missing_driver("nomaflow_no_such_driver", "the thing") == (
        "the thing needs the nomaflow_no_such_driver driver: pip install nomaflow_no_such_driver"
    )
    assert sorted(EXTRAS.values()) == ["ldap", "mysql", "postgres", "redis"]
    assert installed("asyncpg") and missing_driver("asyncpg", "x") is None


def test_sql_connectors_whose_driver_is_missing_are_problems_of_the_steps_using_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_toml = _sql_install(tmp_path)
    load_install(app_toml)  # both drivers here: nothing to say (no connection is made while loading)

    _without(monkeypatch, "asyncpg", "asyncmy")
    assert _problems(app_toml) == [
        "plugins/billing/jobs.toml:7: jobs[0].steps[0].connector: step 'totals' of job 'nightly': "
        "connector 'warehouse' (postgresql+asyncpg) needs the asyncpg driver: "
        "pip install 'nomaflow[postgres]'",
        "plugins/billing/jobs.toml:13: jobs[0].steps[1].connector: step 'customers' of job 'nightly': "
        "connector 'crm' (mysql+asyncmy) needs the asyncmy driver: pip install 'nomaflow[mysql]'",
    ]


def test_an_ldap_sync_step_without_ldap3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_toml = write_install(tmp_path, LDAP_JOBS)
    load_install(app_toml)

    _without(monkeypatch, "ldap3")
    [problem] = _problems(app_toml)
    assert problem == (
        "plugins/billing/jobs.toml:6: jobs[0].steps[0].type: step 'people' of job 'directory': "
        "the ldap_sync step needs the ldap3 driver: pip install 'nomaflow[ldap]'"
    )


def test_a_job_store_on_postgresql_without_asyncpg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOMAFLOW_DATABASE_URL", raising=False)
    store = '[connectors.default]\nurl = "postgresql://nomaflow@db.example/jobs"\n'
    app_toml = write_install(tmp_path, "", store)
    load_install(app_toml)

    _without(monkeypatch, "asyncpg")
    assert _problems(app_toml) == [
        f"{app_toml}:2: connectors.default.url: the job store (connector 'default', postgresql+asyncpg) "
        "needs the asyncpg driver: pip install 'nomaflow[postgres]'"
    ]
    monkeypatch.setenv("NOMAFLOW_DATABASE_URL", "postgres://nomaflow@db.example/jobs")
    (tmp_path / "app.toml").write_text("")
    [problem] = _problems(app_toml)
    assert problem == (
        f"{app_toml}: NOMAFLOW_DATABASE_URL: the job store (connector 'default', postgresql+asyncpg) needs "
        "the asyncpg driver: pip install 'nomaflow[postgres]'"
    )


def test_socketio_through_redis_without_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_toml = write_install(tmp_path, "", '[server]\nsocketio_redis_url = "redis://127.0.0.1:6379/0"\n')
    load_install(app_toml)

    _without(monkeypatch, "redis")
    assert _problems(app_toml) == [
        f"{app_toml}:2: server.socketio_redis_url: sharing Socket.IO events through Redis needs the redis "
        "driver: pip install 'nomaflow[redis]'"
    ]
