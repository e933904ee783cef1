"""The scheduler admin in a real Chromium against Django's live server.

Log in, add a Dask scheduler for a real local dask scheduler, test its
connection, edit a Condor scheduler's description (its password must stay),
and check that no page ever contains a secret.  The run takes the screenshots
used by ``docs/admin.rst``; ``make screenshots`` writes them to
``docs/_static/screenshots/``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tethys_compute.dask_processes import LocalDaskCluster
from tethys_compute.models import CondorScheduler, DaskScheduler

pytestmark = [pytest.mark.browser, pytest.mark.dask, pytest.mark.django_db(transaction=True)]

# The docs' screenshots are rewritten only on request (`make screenshots`), so an
# ordinary test run leaves the work tree clean; otherwise they go to a scratch folder.
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "_static" / "screenshots"
    if os.environ.get("TETHYS_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "tethys-compute-screenshots"
)
SECRET = "br0wser-Secret-pw"
USERNAME, PASSWORD = "portal-admin", "portal-admin-pw"


class Pages:
    """Visits admin pages and checks each one's source for secrets."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.visited: list[str] = []

    def check_source(self) -> None:
        source = self.page.content()
        self.visited.append(self.page.url)
        assert SECRET not in source, f"the password leaked into {self.page.url}"
        assert "fernet:" not in source, f"ciphertext leaked into {self.page.url}"

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.check_source()

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_admin_manages_schedulers_in_a_real_browser(
    page: Page, live_server: object, tethys_dask_cluster: LocalDaskCluster
) -> None:
    User.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
    condor = CondorScheduler.objects.create(
        name="Condor submit host",
        host="127.0.0.1",
        username="condor",
        password=SECRET,
        description="Campus HTCondor pool",
    )
    pages = Pages(page, str(live_server))

    # Log in.
    pages.open("/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#content")).to_contain_text("Tethys Compute")
    pages.check_source()

    # The list of schedulers; add a Dask scheduler for the real local scheduler.
    page.click("text=Schedulers")
    expect(page.locator("#result_list")).to_contain_text("Condor submit host")
    pages.check_source()
    page.click("text=Add Dask scheduler")
    pages.check_source()
    page.fill("#id_name", "Default")
    page.fill("#id_host", tethys_dask_cluster.address)
    page.fill("#id_timeout", "5")
    page.fill("#id_description", "The portal's local Dask scheduler")
    if tethys_dask_cluster.dashboard_address:
        page.fill("#id_dashboard", tethys_dask_cluster.dashboard_address)
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    dask = DaskScheduler.objects.get(name="Default")
    assert dask.host == tethys_dask_cluster.address

    # Test its connection from its change page: the real scheduler answers.
    page.click("#test-connection-button")
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text("Dask scheduler “Default”: OK", timeout=30_000)
    expect(messages).to_contain_text("Passed: address, connect, workers")
    pages.check_source()
    expect(page.locator(".field-health")).to_contain_text("OK")
    expect(page.locator(".field-check_details")).to_contain_text("connect")
    dask.refresh_from_db()
    assert dask.last_check_ok is True
    if tethys_dask_cluster.dashboard_link:
        expect(page.locator("text=Dask dashboard")).to_have_attribute(
            "href", tethys_dask_cluster.dashboard_link
        )
    pages.shot("dask-change-tested")

    # Edit the Condor scheduler's description: its password stays.
    pages.open(f"/admin/tethys_compute/condorscheduler/{condor.pk}/change/")
    expect(page.locator(".field-password")).to_contain_text("A password is stored.")
    assert page.input_value("#id_password") == ""
    pages.shot("condor-change")
    page.fill("#id_description", "Campus HTCondor pool (edited in the browser)")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    pages.check_source()
    condor = CondorScheduler.objects.get(pk=condor.pk)
    assert condor.description == "Campus HTCondor pool (edited in the browser)"
    assert condor.password == SECRET

    # Test every scheduler from the list: the Condor host is down, and says why.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "test_connection")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text(
        "Dask scheduler “Default”: OK", timeout=30_000
    )
    expect(page.locator(".messagelist .error")).to_contain_text(
        re.compile(r"“Condor submit host”: (FAILED|not checked)")
    )
    pages.check_source()
    expect(page.locator("#result_list")).to_contain_text("OK")
    pages.shot("schedulers-list")

    # The add page of a Condor scheduler.
    pages.open("/admin/tethys_compute/condorscheduler/add/")
    expect(page.locator(".field-password")).to_contain_text("No password is stored.")
    pages.shot("condor-add")

    assert len(pages.visited) >= 8
    for name in ("schedulers-list", "condor-add", "condor-change", "dask-change-tested"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
