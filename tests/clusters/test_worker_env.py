"""A local cluster's worker environment is kept with the cluster and used for every node.

A resize from another shell (a ``clusters`` process whose path lacks the
app's folder) must start workers that import the app as the first ones did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clusters.test_operations import command_env
from tethys_compute.clusters import service
from tethys_compute.dask_client import close_clients
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import DaskScheduler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dask]

ROOT = Path(__file__).resolve().parents[2]
APP = "hydro_tc14_env"


@pytest.fixture
def app_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    (folder / APP).mkdir(parents=True)
    (folder / APP / "__init__.py").write_text("VALUE = 7\n")
    return folder


def config(folder: Path, extra: str = "") -> Path:
    path = folder / "config"
    path.write_text(
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
        + extra
    )
    return path


def importable_on_workers(name: str) -> dict[str, bool]:
    scheduler = DaskScheduler.objects.get(name=name)

    def probe() -> bool:
        import importlib.util

        return importlib.util.find_spec(APP) is not None

    return dict(scheduler.client.run(probe, on_error="return"))


def resize_from_another_shell(name: str) -> None:
    env = command_env()  # PYTHONPATH: the repository only, not the app's folder
    done = subprocess.run(
        [sys.executable, "-m", "django", "clusters", "resize", name, "3", "--timeout", "90"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def on_path(app_folder: Path) -> Iterator[Path]:
    sys.path.insert(0, str(app_folder))
    yield app_folder
    sys.path.remove(str(app_folder))


def finish(name: str) -> None:
    address = DaskScheduler.objects.get(name=name).host
    close_clients(address)
    service.terminate_cluster(name, background=False)


def test_the_path_captured_at_first_start_is_used_by_a_resize_from_another_shell(
    tmp_path: Path, on_path: Path
) -> None:
    service.start_cluster("dev", "env1", config_path=str(config(tmp_path)), background=False)
    try:
        resize_from_another_shell("env1")
        answers = importable_on_workers("env1")
        assert len(answers) == 2 and all(v is True for v in answers.values()), answers
        stored = ClusterRecord.objects.get(name="env1").provider_state["env"]["PYTHONPATH"]
        assert str(on_path) in stored.split(os.pathsep)
    finally:
        finish("env1")


def test_worker_pythonpath_of_the_template_reaches_every_node(
    tmp_path: Path, app_folder: Path
) -> None:
    path = config(tmp_path, f"WORKER_PYTHONPATH = {app_folder}{os.pathsep}~/nothing-here\n")
    service.start_cluster("dev", "env2", config_path=str(path), background=False)
    try:
        resize_from_another_shell("env2")
        answers = importable_on_workers("env2")
        assert len(answers) == 2 and all(v is True for v in answers.values()), answers
        env = ClusterRecord.objects.get(name="env2").provider_state["env"]
        assert env["PYTHONPATH"].split(os.pathsep)[0] == str(app_folder)
    finally:
        finish("env2")
