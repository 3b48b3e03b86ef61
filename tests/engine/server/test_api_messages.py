"""The API's texts say what happened, once and whole: 404s keep their closing quote, a 403 names the role
the token has and whose token it is, and a run's log starts with who triggered it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.engine.server.conftest import Served

pytestmark = pytest.mark.anyio


async def test_unknown_job_texts_keep_their_quotes(served: Served) -> None:
    for method, path in (("GET", "/admin/jobs/nope"), ("POST", "/admin/jobs/nope/run")):
        answer = await served.http.request(method, path, headers=served.auth("admin"))
        assert answer.status_code == 404
        assert answer.json()["detail"] == "no job named 'nope'"
    near = await served.http.get("/admin/jobs/quik", headers=served.auth("admin"))
    assert near.json()["detail"] == "no job named 'quik' (did you mean \"quick\"?)"


async def test_a_403_names_the_role_the_token_has_and_whose_token_it_is(served: Served) -> None:
    answer = await served.http.post("/admin/jobs/quick/run", json={}, headers=served.auth("viewer", "victor"))
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this needs the operator role; 'victor' has the viewer role"


async def test_the_trigger_is_the_first_line_of_the_runs_log(served_on: Served, gate: Path) -> None:
    served = served_on
    await anyio.Path(gate).touch()  # the first step logs at once, then goes on
    answer = await served.http.post(
        "/admin/jobs/gated/run", json={"params": {"gate": str(gate)}}, headers=served.auth("operator")
    )
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run_id"]
    done = await served.http.get(f"/admin/runs/{run_id}", params={"wait": 30}, headers=served.auth("viewer"))
    assert done.json()["status"] == "succeeded"
    # As stored in ly2_job_logs, in the run's sequence (the machines' transition rows set aside).
    stored = [
        row
        for row in await served.engine.store.get_logs(run_id)
        if (row.fields or {}).get("event") != "transition"
    ]
    assert [(row.step_name, row.message) for row in stored[:2]] == [
        (None, "triggered by api"),
        ("wait", f"waiting for {gate}"),
    ]
    assert (stored[0].fields or {})["action"] == "run"
