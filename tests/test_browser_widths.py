"""The admin's lists fit a 1366-pixel-wide window: no column hidden off screen (#14 item 7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page

from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import CondorScheduler, DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERNAME, PASSWORD = "narrow-admin", "narrow-admin-pw"
WIDTH = 1366


@pytest.fixture
def narrow_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 768})
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def realistic_rows() -> None:
    """Long names and messages, as a real portal has them."""
    condor = CondorScheduler.objects.create(
        name="Campus HTCondor pool (central submit host)",
        host="submit-01.hpc.research.example-university.edu",
        username="portal-service-account",
        description="The university's shared pool",
    )
    dask = DaskScheduler.objects.create(
        name="Hydrology Dask cluster (GPU nodes)",
        host="tcp://dask-scheduler.hydro.example-university.edu:8786",
        dashboard="https://dask-dashboard.hydro.example-university.edu/status",
    )
    for n, status in enumerate([JobStatus.RUNNING, JobStatus.ERROR, JobStatus.RESULTS_READY]):
        DaskJob.objects.create(
            label="streamflow_forecast_app",
            name=f"Ensemble streamflow forecast for the Upper Colorado basin, member {n:03d}",
            scheduler=dask,
            status_code=status,
            status_message="Results callback hydro.results.load failed (attempt 1 of 5): "
            "ModuleNotFoundError: No module named 'hydro'" * 2,
            function="streamflow_forecast_app.tasks.run_ensemble_member",
        )
    Job.objects.create(
        label="streamflow_forecast_app", name="Nightly import", scheduler=condor, status_code="RUN"
    )
    ClusterRecord.objects.create(
        name="hydrology-gpu-cluster-2026",
        template="gpu-large-spot-instances",
        config_path="/etc/tethyscluster/portal-production-config",
        provider="AWS",
        size=12,
        status="ERR",
        status_message="the running operation was interrupted (no progress for 300 s); start or "
        "terminate the cluster again. " * 2,
    )


def test_admin_lists_fit_a_1366_pixel_window(narrow_page: Page, live_server: object) -> None:
    User.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
    realistic_rows()
    base = str(live_server)
    narrow_page.goto(base + "/admin/login/?next=/admin/")
    narrow_page.fill("#id_username", USERNAME)
    narrow_page.fill("#id_password", PASSWORD)
    narrow_page.click("input[type=submit]")
    widths = {}
    for path in (
        "/admin/tethys_compute/job/",
        "/admin/tethys_compute/scheduler/",
        "/admin/tethys_compute/cluster/",
        "/admin/tethys_compute/daskscheduler/",
        "/admin/tethys_compute/condorscheduler/",
    ):
        narrow_page.goto(base + path)
        widths[path] = narrow_page.evaluate(
            "() => [document.documentElement.scrollWidth, "
            "Math.ceil(document.querySelector('#result_list').getBoundingClientRect().right), "
            "document.querySelector('.results').scrollWidth, "
            "document.querySelector('.results').clientWidth]"
        )
    # [page width, table's right edge, table width needed, table width shown]
    too_wide = {p: w for p, w in widths.items() if max(w[:2]) > WIDTH or w[2] > w[3]}
    assert not too_wide, f"columns off screen at {WIDTH} px: {too_wide}"
