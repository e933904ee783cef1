"""Service operations always end in a final status; the command and admin around them.

Resize to the current size, refusals that say the way out, ``--no-wait``
handing the work to a detached process, forced terminations of clusters
whose provider cannot be reached, and what the command and the admin print.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client as WebClient
from django.urls import reverse

from tests.clusters.test_manager import local_config
from tethys_compute.clusters import exceptions, service
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.models import Cluster as ClusterRecord

pytestmark = [pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
#: A template with a misspelt setting (WORKER_THREADS).
TYPO = "\n[cluster typo]\nCLOUD_PROVIDER = local\nCLUSTER_SIZE = 1\nWORKER_THREDS = 2\n"


def command_env() -> dict[str, str]:
    """The environment of a ``python -m django`` subprocess on the test database."""
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings")
    if db["ENGINE"].endswith("sqlite3"):
        env["TETHYS_TEST_SQLITE_FILE"] = str(db["NAME"])
    else:
        env["PGDATABASE"] = str(db["NAME"])
    return env


def clusters_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", "clusters", *args],
        env=command_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def progress_logged() -> Iterator[None]:
    """The portal logs cluster progress at INFO (as a deployed portal may)."""
    log = logging.getLogger("tethys_compute")
    level = log.level
    console = logging.StreamHandler()  # on this test's (captured) stderr
    log.addHandler(console)
    log.setLevel(logging.INFO)
    yield
    log.setLevel(level)
    log.removeHandler(console)


def unreachable_aws_config(folder: Path, extra: str = "") -> Path:
    key = folder / "k.rsa"
    key.write_text("unused\n")
    path = folder / "aws-config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = small

            [aws info]
            AWS_ACCESS_KEY_ID = AKIANOTREACHABLE
            AWS_SECRET_ACCESS_KEY = not-used-secret
            AWS_REGION_NAME = us-east-1
            AWS_ENDPOINT_URL = http://127.0.0.1:{closed_port()}

            [key k]
            KEY_LOCATION = {key}

            [cluster small]
            CLOUD_PROVIDER = AWS
            KEYNAME = k
            CLUSTER_SIZE = 2
            NODE_IMAGE_ID = ami-00000001
            NODE_INSTANCE_TYPE = t3.micro
            SKIP_SETUP = True
            START_TIMEOUT = 20
            """
        )
        + extra
    )
    return path


def unreachable_aws_record(name: str, config: Path) -> ClusterRecord:
    return ClusterRecord.objects.create(
        name=name,
        template="small",
        config_path=str(config),
        provider="AWS",
        size=2,
        status="RUN",
        status_message="running",
        provider_state={"group_id": "sg-0123abcd"},
    )


# ------------------------------------------------------------ service + CLI
@pytest.mark.dask
def test_resize_to_the_same_size_is_a_no_op_and_operations_never_stay_busy(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], progress_logged: None
) -> None:
    config = local_config(tmp_path, size=1)
    out = io.StringIO()
    call_command("clusters", "start", "dev", "ops1", "--config", str(config), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("] ops1: STR queued: starting")
    assert sum("ops1: RUN running" in line for line in lines) == 1
    assert len(lines) == len(set(lines))
    # Each progress line once, on stdout: nothing from the loggers on stderr.
    assert "ops1" not in capfd.readouterr().err

    before = ClusterRecord.objects.get(name="ops1")
    out = io.StringIO()
    try:
        call_command("clusters", "resize", "ops1", "1", "--timeout", "20", stdout=out)
    except CommandError as exc:
        pytest.fail(f"resize to the same size: {exc}")
    assert "already has 1 nodes" in out.getvalue()
    after = ClusterRecord.objects.get(name="ops1")
    assert (after.status, after.status_changed) == ("RUN", before.status_changed)

    # A resize that changes nothing on a failed cluster gives the row its status back.
    ClusterRecord.objects.filter(name="ops1").update(status="ERR", status_message="was bad")
    service.resize_cluster("ops1", 1)
    record = service.wait("ops1", timeout=30)
    assert record is not None and record.status == "ERR"
    assert "resize changed nothing" in record.status_message

    # Busy: the refusal says how to get out.
    ClusterRecord.objects.filter(name="ops1").update(status="UPD", status_message="adding x")
    with pytest.raises(exceptions.InvalidOperation) as refused:
        service.stop_cluster("ops1")
    text = str(refused.value)
    assert "Wait for that operation to end" in text and "60 s" in text
    assert "manage.py clusters terminate ops1 --force" in text and "Terminate (force)" in text
    with pytest.raises(exceptions.ClusterExists, match="terminate ops1 --force"):
        service.start_cluster(None, "ops1")
    ClusterRecord.objects.filter(name="ops1").update(status="RUN", status_message="running")
    service.terminate_cluster("ops1")
    assert service.wait("ops1", timeout=60) is None


@pytest.mark.dask
def test_no_wait_hands_the_work_to_a_detached_process(tmp_path: Path) -> None:
    config = local_config(tmp_path, size=1)
    # An error of the detached process is the command's error.
    failed = clusters_command("start", "nope", "nw0", "--config", str(config), "--no-wait")
    assert failed.returncode == 1 and "cluster template 'nope' does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr
    started = time.monotonic()
    done = clusters_command("start", "dev", "nw1", "--config", str(config), "--no-wait")
    assert done.returncode == 0, done.stderr
    assert "nw1: STR" in done.stdout and "not waiting" in done.stdout
    assert time.monotonic() - started < 60
    # The command has exited; the detached process goes on to RUN.
    deadline = time.monotonic() + 90
    record = ClusterRecord.objects.get(name="nw1")
    while record.status != "RUN" and time.monotonic() < deadline:
        assert record.status in ("STR", "RUN"), record.status_message
        time.sleep(0.5)
        record.refresh_from_db()
    assert record.status == "RUN", record.status_message
    log = Path(done.stdout.rsplit("log ", 1)[1].rstrip(")\n"))
    while "nw1: RUN running" not in log.read_text() and time.monotonic() < deadline + 10:
        time.sleep(0.2)  # the detached process writes its last line, then exits
    assert "nw1: RUN running" in log.read_text()
    service.terminate_cluster("nw1", background=False)
    assert not ClusterRecord.objects.filter(name="nw1").exists()


def test_command_failures_are_one_line_on_stderr_without_traceback() -> None:
    done = clusters_command("resize", "nosuch", "2")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CommandError: " + done.stderr.strip().removeprefix("CommandError: ")
    ]
    assert "Traceback" not in done.stderr and "nosuch" in done.stderr


def test_config_warnings_are_printed_by_the_command(tmp_path: Path) -> None:
    config = local_config(tmp_path, size=1, extra=TYPO)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "clusters",
            "start",
            "nope",
            "w1",
            "--config",
            str(config),
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "warning: " in err.getvalue() and "did you mean WORKER_THREADS?" in err.getvalue()


# ------------------------------------------------- forced termination (4, 5)
def test_force_terminate_of_an_unreachable_cloud_cluster_warns_and_exits_3(
    tmp_path: Path,
) -> None:
    config = unreachable_aws_config(tmp_path)
    unreachable_aws_record("far1", config)
    with pytest.raises(CommandError, match="cannot reach AWS"):
        call_command("clusters", "terminate", "far1", stdout=io.StringIO())
    assert ClusterRecord.objects.get(name="far1").status == "ERR"

    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("clusters", "terminate", "far1", "--force", stdout=out)
    assert failed.value.returncode == 3
    text = str(failed.value)
    assert "removed from the portal" in text and "security group @tc-far1 (sg-0123abcd)" in text
    assert "\n" not in text
    assert not ClusterRecord.objects.filter(name="far1").exists()

    # Without its config file, force still removes the record and says so.
    unreachable_aws_record("far2", tmp_path / "gone-config")
    with pytest.raises(CommandError) as failed:
        call_command("clusters", "terminate", "far2", "--force", stdout=io.StringIO())
    assert failed.value.returncode == 3 and "config cannot be read" in str(failed.value)
    assert not ClusterRecord.objects.filter(name="far2").exists()


def test_admin_force_terminate_asks_first_and_shows_what_may_be_left(
    tmp_path: Path, admin_client: WebClient
) -> None:
    config = unreachable_aws_config(tmp_path)
    record = unreachable_aws_record("far3", config)
    changelist = reverse("admin:tethys_compute_cluster_changelist")
    page = admin_client.get(changelist)
    assert b"Terminate (force: remove the record even if the provider cannot be reached)" in (
        page.content
    )
    asked = admin_client.post(
        changelist, {"action": "force_terminate_clusters", "_selected_action": [record.pk]}
    )
    assert asked.status_code == 200 and b"Yes, terminate and remove" in asked.content
    assert ClusterRecord.objects.filter(name="far3").exists()
    done = admin_client.post(
        changelist,
        {"action": "force_terminate_clusters", "_selected_action": [record.pk], "confirm": "1"},
        follow=True,
    )
    text = done.content.decode()
    assert "Cluster “far3”: the record is removed, but" in text
    assert "security group @tc-far3 (sg-0123abcd)" in text
    assert not ClusterRecord.objects.filter(name="far3").exists()


# ----------------------------------------------------------------- admin (7, 10, 11)
def test_admin_add_messages_labels_status_text_and_resize_breadcrumb(
    tmp_path: Path, admin_client: WebClient
) -> None:
    config = local_config(tmp_path, size=1, extra=TYPO)
    add = reverse("admin:tethys_compute_cluster_add")
    form = admin_client.get(add).content.decode()
    assert ">Size:<" in form and ">Start now<" in form
    added = admin_client.post(
        add, {"name": "quiet1", "config_path": str(config), "template": "dev"}, follow=True
    )
    text = added.content.decode()
    assert "Cluster “quiet1”: added; not started" in text
    assert "did you mean WORKER_THREADS?" in text
    record = ClusterRecord.objects.get(name="quiet1")
    changelist = reverse("admin:tethys_compute_cluster_changelist")
    listed = admin_client.get(changelist).content.decode()
    assert ">Not started</strong>" in listed and ">Stopped</strong>" not in listed

    resize = admin_client.post(
        changelist, {"action": "resize_clusters", "_selected_action": [record.pk]}
    ).content.decode()
    assert ">New size:<" in resize
    crumbs = resize.split('<div class="breadcrumbs">', 1)[1].split("</div>", 1)[0]
    import re

    words = [w.strip() for w in re.sub(r"<[^>]+>", "", crumbs).split("&rsaquo;")]
    assert words == ["Home", "Tethys Compute", "Clusters", "Resize"]

    # Messages keep the cluster's name as it is (the admin capitalises the first letter).
    started = admin_client.post(
        changelist, {"action": "stop_clusters", "_selected_action": [record.pk]}, follow=True
    )
    assert "Cluster “quiet1”: cluster &#x27;quiet1&#x27; is stopped" in started.content.decode()
    record.delete()


def test_admin_azure_template_error_names_the_template_and_file(
    tmp_path: Path, admin_client: WebClient
) -> None:
    extra = textwrap.dedent(
        """
        [key k2]
        KEY_LOCATION = /dev/null

        [cluster az]
        CLOUD_PROVIDER = Azure
        KEYNAME = k2
        CLUSTER_SIZE = 2
        NODE_IMAGE_ID = img
        NODE_INSTANCE_TYPE = Small
        """
    )
    config = local_config(tmp_path, size=1, extra=extra)
    page = admin_client.post(
        reverse("admin:tethys_compute_cluster_add"),
        {"name": "az1", "config_path": str(config), "template": "az"},
    ).content.decode()
    assert "Template “az” ([cluster az] in " in page and str(config) in page


def test_a_refused_start_leaves_no_busy_row(tmp_path: Path) -> None:
    config = local_config(tmp_path, size=1)
    with pytest.raises(InvalidArgumentError, match="unknown credential"):
        service.start_cluster("dev", "cred2", config_path=str(config), credentials={"nope": "x"})
    assert not ClusterRecord.objects.filter(name="cred2").exists()
