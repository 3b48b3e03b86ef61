"""The UI of Nomaflow embedded in a host FastAPI service under /ops/jobs (tests/e2e/embedded_host.py),
the host signing its staff in with a cookie of its own: the UI must find its assets, API, live events and
pages under the prefix with nothing configured, and open signed in as the host's user, with that user's
role, without Nomaflow's sign-in form. About 6 s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import BUILD, INSTALL, Browse, check_a11y
from tests.e2e.embedded_host import COOKIE, HostServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostServer]:
    running = HostServer(tmp_path_factory.mktemp("embedded-ui"), INSTALL / "app.toml")
    try:
        yield running
    finally:
        running.stop()


def open_as(browse: Browse, host: HostServer, user: str | None, path: str = "/") -> Page:
    """A page of the UI under the prefix, with the host's sign-in cookie for `user` (None: nobody)."""
    page = browse.new()
    if user is not None:
        page.context.add_cookies([{"name": COOKIE, "value": user, "url": host.root}])
    page.goto(host.url + path)
    return page


def test_the_ui_under_a_prefix_opens_as_the_user_the_host_signed_in(
    host: HostServer, browse: Browse, tmp_path: Path
) -> None:
    assert httpx.get(f"{host.root}/", timeout=10).json() == {"service": "billing"}
    page = open_as(browse, host, "olga")
    expect(page.locator(".live-on")).to_be_visible()  # Socket.IO connected with the host's cookie
    expect(page.locator(".user")).to_have_text("olga (operator)")
    expect(page.get_by_label("Username")).to_have_count(0)  # no Nomaflow sign-in form
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)  # signing out is the host's
    expect(page.get_by_test_id("jobs-table")).to_be_visible()
    check_a11y(page, "the Jobs page under a prefix, signed in by the host")

    gate = tmp_path / "gate"
    gate.touch()
    Path(f"{gate}.summarise").touch()
    page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report']").get_by_role(
        "button", name="Run sales-report"
    ).click()
    dialog = page.get_by_role("dialog", name="Run sales-report")
    dialog.get_by_label("gate").fill(str(gate))
    dialog.get_by_role("button", name="Start run").click()
    last = page.get_by_test_id("jobs-table").locator("tr[data-job='sales-report'] td[data-label='Last run']")
    expect(last.locator("[data-status]")).to_have_text("succeeded")  # live events reached the page

    page.get_by_role("link", name="Runs").click()
    expect(page).to_have_url(f"{host.url}/runs")
    page.reload()  # the server serves the app at its own routes under the prefix too
    row = page.get_by_test_id("runs-table").locator("tr[data-job='sales-report']").first
    expect(row.locator("[data-status]")).to_have_text("succeeded")
    expect(row).to_contain_text("user:olga")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(host.url)}/runs\?run="))
    page.get_by_test_id("run-drawer").get_by_role("tab", name="Log").click()
    expect(page.get_by_test_id("log-tail")).to_contain_text("summarised 40 orders")


def test_the_host_decides_what_the_ui_offers(host: HostServer, browse: Browse) -> None:
    viewer = open_as(browse, host, "vic")
    expect(viewer.locator(".user")).to_have_text("vic (viewer)")
    expect(viewer.get_by_test_id("jobs-table")).to_be_visible()
    expect(viewer.get_by_role("button", name="Run sales-report")).to_have_count(0)

    # Nobody signed in by the host: the install has UI users of its own, so their sign-in form is offered.
    nobody = open_as(browse, host, None)
    expect(nobody.get_by_label("Username")).to_be_visible()


def test_the_build_holds_no_absolute_path_of_the_server() -> None:
    built = [BUILD, *sorted((BUILD.parent / "assets").glob("*"))]
    for path in built:
        text = path.read_text(errors="replace")
        for absolute in ('"/admin', "'/admin", "`/admin", '"/assets', "'/assets", '="/', "`/health"):
            assert absolute not in text, f"{path.name} holds {absolute!r}: the UI would break under a prefix"
