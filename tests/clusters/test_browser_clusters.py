"""The admin Clusters page in a real Chromium: create from a template, watch it start, terminate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tethys_compute.clusters import service
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import Scheduler

pytestmark = [pytest.mark.browser, pytest.mark.dask, pytest.mark.django_db(transaction=True)]

SECRET = "cluster-br0wser-secret"
USERNAME, PASSWORD = "cluster-admin", "cluster-admin-pw"


def test_admin_creates_watches_and_terminates_a_cluster_in_a_real_browser(
    page: Page, live_server: object, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(
        textwrap.dedent(
            """\
            [global]
            DEFAULT_TEMPLATE = dev

            [cluster dev]
            CLOUD_PROVIDER = local
            CLUSTER_SIZE = 2
            START_TIMEOUT = 60
            """
        )
    )
    User.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
    base = str(live_server)

    def no_secret() -> None:
        assert SECRET not in page.content(), f"the secret leaked into {page.url}"

    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#content")).to_contain_text("Clusters")

    page.goto(f"{base}/admin/tethys_compute/cluster/add/")
    page.fill("#id_name", "browser1")
    page.fill("#id_config_path", str(config))
    page.fill("#id_template", "dev")
    page.fill("#id_size", "2")
    page.locator("fieldset.collapse summary, fieldset.collapse .collapse-toggle").last.click()
    page.fill("#id_aws_access_key_id_input", "AKIABROWSER")
    page.fill("#id_aws_secret_access_key_input", SECRET)
    page.click("input[name=_save]")

    # The list shows the cluster, reloading itself until it runs.
    expect(page.locator("#result_list")).to_contain_text("browser1")
    expect(page.locator("#result_list .cluster-status")).to_have_text("Running", timeout=60_000)
    expect(page.locator("#result_list")).to_contain_text("scheduler 'browser1' at tcp://127.0.0.1:")
    no_secret()
    record = ClusterRecord.objects.get(name="browser1")
    assert record.has_secret("aws_secret_access_key")

    page.click("text=browser1")
    expect(page.locator("#content")).to_contain_text("stored (encrypted, not shown)")
    no_secret()

    page.goto(f"{base}/admin/tethys_compute/cluster/")
    page.check(f"input[name=_selected_action][value='{record.pk}']")
    page.select_option("select[name=action]", "terminate_clusters")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Cluster “browser1”: terminating")
    assert service.wait("browser1", timeout=60) is None
    page.goto(f"{base}/admin/tethys_compute/cluster/")
    expect(page.locator("#content")).not_to_contain_text("browser1")
    assert not Scheduler.objects.filter(name="browser1").exists()
