"""The cluster manager's API, the Cluster model and service, the command and the admin page."""

from __future__ import annotations

import io
import textwrap
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from django.core.management import CommandError, call_command
from django.test import Client as WebClient
from django.urls import reverse
from django.utils import timezone

from tethys_compute.clusters import exceptions, service
from tethys_compute.clusters.cluster import Cluster, Node
from tethys_compute.clusters.manager import ClusterManager
from tethys_compute.exceptions import ClusterError, InvalidArgumentError, TethysComputeError
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import Scheduler

pytestmark = [pytest.mark.django_db(transaction=True)]

CONFIGS = Path(__file__).parent / "configs"

MANAGER_METHODS = (
    "get_cluster_template",
    "get_default_cluster_template",
    "get_default_template_cluster",
    "get_cluster",
    "get_cluster_or_none",
    "get_clusters",
    "cluster_exists",
    "add_node",
    "add_nodes",
    "remove_node",
    "remove_nodes",
    "stop_cluster",
    "terminate_cluster",
    "restart_cluster",
    "run_plugin",
    "get_cluster_security_groups",
    "get_tag_from_sg",
)
CLUSTER_MEMBERS = (
    "start",
    "is_cluster_up",
    "is_cluster_stopped",
    "is_cluster_terminated",
    "nodes",
    "running_nodes",
    "master_node",
    "get_node",
    "add_node",
    "add_nodes",
    "remove_node",
    "remove_nodes",
    "stop_cluster",
    "terminate_cluster",
    "run_plugins",
    "validate",
    "is_valid",
    "update",
    "get",
)


def local_config(folder: Path, size: int = 2, extra: str = "") -> Path:
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = dev

            [cluster dev]
            CLOUD_PROVIDER = local
            CLUSTER_SIZE = {size}
            START_TIMEOUT = 60

            [key k]
            KEY_LOCATION = {folder}/no-such-key

            [cluster unreachable]
            CLOUD_PROVIDER = ssh
            KEYNAME = k
            CLUSTER_SIZE = 1
            NODE_HOSTS = 127.0.0.1:1
            START_TIMEOUT = 2
            """
        )
        + extra
    )
    return path


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --------------------------------------------------------------------- API
def test_spec_example_with_tethysclusters_own_default_config() -> None:
    from tethys_sdk.compute import get_cluster_manager

    cluster_manager = get_cluster_manager(str(CONFIGS / "tethyscluster_default.ini"))
    assert isinstance(cluster_manager, ClusterManager)
    for name in MANAGER_METHODS:
        assert callable(getattr(cluster_manager, name)), name
    assert cluster_manager.get_default_cluster_template() == "smallcluster"
    cluster = cluster_manager.get_default_template_cluster("portal1")
    assert isinstance(cluster, Cluster)
    for name in CLUSTER_MEMBERS:
        assert hasattr(Cluster, name), name
    assert (cluster.cluster_tag, cluster.cloud_provider, cluster.cluster_size) == (
        "portal1",
        "aws",
        2,
    )
    assert cluster.node_instance_type == "m1.small"  # TethysCluster's attribute names
    # The template's plugin names TethysCluster's class; ours is loaded instead.
    assert [type(p).__name__ for p in cluster.plugins] == ["CondorSetup"]
    # Azure templates are read, but say clearly that they cannot run yet.
    azure = cluster_manager.get_cluster_template("azure_cluster", "az")
    with pytest.raises(exceptions.AzureNotAvailable, match="not available yet"):
        azure.validate()


def test_keyword_arguments_override_the_template_and_names_accept_the_tc_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tethys_sdk.compute import get_cluster_manager

    monkeypatch.setenv("TETHYSCLUSTER_CONFIG", str(local_config(tmp_path)))
    manager = get_cluster_manager()  # found through TETHYSCLUSTER_CONFIG
    cluster = manager.get_cluster_template("dev", "@tc-c1", cluster_size=5, worker_threads=2)
    assert (cluster.cluster_tag, cluster.cluster_size, cluster.get("worker_threads")) == (
        "c1",
        5,
        2,
    )
    cluster.update({"cluster_size": 3})
    assert cluster.cluster_size == 3
    with pytest.raises(InvalidArgumentError, match="unknown cluster setting"):
        cluster.update({"no_such_setting": 1})
    with pytest.raises(InvalidArgumentError, match="cluster_size"):
        manager.get_cluster_template("dev", "c2", cluster_size=0)
    with pytest.raises(exceptions.ClusterTemplateDoesNotExist) as missing:
        manager.get_cluster_template("nope")
    assert isinstance(missing.value, LookupError) and "available templates: dev" in str(
        missing.value
    )
    with pytest.raises(exceptions.ClusterDoesNotExist) as absent:
        manager.get_cluster("@tc-ghost")
    assert isinstance(absent.value, LookupError) and isinstance(absent.value, ClusterError)
    assert manager.get_cluster_or_none("ghost") is None
    assert manager.cluster_exists("ghost") is False
    assert manager.get_tag_from_sg("@tc-abc") == "abc"
    with pytest.raises(ValueError):
        manager.get_tag_from_sg("default")
    with pytest.raises(exceptions.ClusterValidationError, match="not valid"):
        manager.get_cluster_template("dev", "bad name!").validate()


def test_local_plugin_that_needs_machines_is_refused_before_anything_starts(tmp_path: Path) -> None:
    extra = (
        "PLUGINS = condor\n\n[plugin condor]\n"
        "SETUP_CLASS = tethyscluster.plugins.condor.CondorPlugin\n"
    )
    path = tmp_path / "config"
    path.write_text(
        "[global]\nDEFAULT_TEMPLATE = dev\n[cluster dev]\nCLOUD_PROVIDER = local\n"
        "CLUSTER_SIZE = 1\n" + extra
    )
    from tethys_sdk.compute import get_cluster_manager

    cluster = get_cluster_manager(path).get_default_template_cluster("lp")
    with pytest.raises(exceptions.PluginError, match="configures machines over SSH"):
        cluster.start()
    assert not ClusterRecord.objects.filter(name="lp").exists()


# ------------------------------------------------------- model and service
@pytest.mark.dask
def test_status_transitions_are_recorded_and_refresh_repairs_a_lost_worker(tmp_path: Path) -> None:
    from tethys_sdk.compute import get_cluster_manager

    config = local_config(tmp_path)
    cluster = get_cluster_manager(config).get_default_template_cluster("st1")
    seen: list[str] = []
    cluster.progress_callback = lambda status, message: seen.append(status)
    cluster.start()
    assert seen[0] == "STR" and seen[-1] == "RUN"
    record = ClusterRecord.objects.get(name="st1")
    assert record.status == "RUN" and record.status_changed is not None
    assert record.provider == "LOC" and record.template == "dev"
    assert "aws" not in repr(record).lower() or "AWS" not in repr(record)

    # Busy or wrong-state operations are refused with the reason.
    with pytest.raises(exceptions.ClusterExists):
        service.start_cluster("dev", "st1", config_path=str(config))
    with pytest.raises(InvalidArgumentError):
        service.resize_cluster("st1", 0)

    # A worker dies: refresh says ERR with what is missing; start replaces it.
    worker_pid = int(record.provider_state["nodes"]["node001"]["pid"])
    psutil.Process(worker_pid).kill()
    psutil.Process(worker_pid).wait(timeout=10)
    record = service.refresh_cluster("st1")
    assert record is not None and record.status == "ERR"
    assert "1 of 2 node(s) run" in record.status_message
    service.start_cluster(None, "st1")
    record = service.wait("st1", timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    pids = [int(e["pid"]) for e in record.provider_state["nodes"].values()]
    assert worker_pid not in pids and all(alive(p) for p in pids)

    # stop -> STP, resize refused while stopped, terminate -> row and scheduler gone.
    seen.clear()
    cluster = get_cluster_manager(config).get_cluster("st1")
    cluster.progress_callback = lambda status, message: seen.append(status)
    cluster.stop_cluster()
    assert seen[0] == "UPD" and ClusterRecord.objects.get(name="st1").status == "STP"
    assert not Scheduler.objects.filter(name="st1").exists()  # stopped: no scheduler to use
    with pytest.raises(exceptions.InvalidOperation, match="stopped"):
        service.resize_cluster("st1", 3)
    service.terminate_cluster("st1")
    assert service.wait("st1", timeout=60) is None
    assert not any(alive(p) for p in pids)


def test_failed_start_is_recorded_as_error_with_the_reason(tmp_path: Path) -> None:
    config = local_config(tmp_path)
    service.start_cluster("unreachable", "bad1", config_path=str(config))
    record = service.wait("bad1", timeout=60)
    assert record is not None and record.status == "ERR"
    assert record.status_message.startswith("start failed:")
    service.terminate_cluster("bad1", force=True)
    assert service.wait("bad1", timeout=30) is None


def test_an_interrupted_operation_becomes_an_error_after_the_start_timeout(tmp_path: Path) -> None:
    config = local_config(tmp_path, size=1)
    record = ClusterRecord.objects.create(
        name="int1", template="dev", config_path=str(config), status="STR"
    )
    ClusterRecord.objects.filter(pk=record.pk).update(
        status_changed=timezone.now() - timedelta(seconds=120)
    )
    record = service.refresh_cluster("int1")
    assert record is not None and record.status == "ERR"
    assert "interrupted" in record.status_message
    service.terminate_cluster("int1")
    assert service.wait("int1", timeout=30) is None


def test_cluster_records_keep_credentials_encrypted_and_out_of_reprs(tmp_path: Path) -> None:
    record = ClusterRecord.objects.create(name="cred1", aws_secret_access_key="s3cr3t-value")
    assert "s3cr3t" not in repr(record)
    fresh = ClusterRecord.objects.get(pk=record.pk)
    assert fresh.has_secret("aws_secret_access_key")
    assert fresh.aws_secret_access_key == "s3cr3t-value"
    raw = ClusterRecord.objects.filter(pk=record.pk).values_list("aws_secret_access_key")
    assert "s3cr3t" not in str(list(raw))


# ------------------------------------------------------------------ command
@pytest.mark.dask
def test_clusters_command_starts_shows_resizes_and_terminates_with_progress(tmp_path: Path) -> None:
    config = local_config(tmp_path)
    out = io.StringIO()
    call_command("clusters", "start", "dev", "cmd1", "--config", str(config), stdout=out)
    text = out.getvalue()
    assert "cmd1: STR" in text and "cmd1: RUN running" in text
    out = io.StringIO()
    call_command("clusters", "list", stdout=out)
    assert "cmd1" in out.getvalue() and "Local processes" in out.getvalue()
    out = io.StringIO()
    call_command("clusters", "status", "cmd1", stdout=out)
    assert (
        "RUN (Running)" in out.getvalue() and "scheduler: cmd1 (tcp://127.0.0.1:" in out.getvalue()
    )
    out = io.StringIO()
    call_command("clusters", "resize", "cmd1", "3", stdout=out)
    assert "cmd1: UPD" in out.getvalue() and ClusterRecord.objects.get(name="cmd1").size == 3
    out = io.StringIO()
    call_command("clusters", "terminate", "cmd1", stdout=out)
    assert "terminated and removed" in out.getvalue()
    assert not ClusterRecord.objects.filter(name="cmd1").exists()


def test_clusters_command_fails_with_the_recorded_reason(tmp_path: Path) -> None:
    config = local_config(tmp_path)
    with pytest.raises(CommandError, match="start failed"):
        call_command(
            "clusters",
            "start",
            "unreachable",
            "cmd2",
            "--config",
            str(config),
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="does not exist"):
        call_command("clusters", "status", "nope", stdout=io.StringIO())
    call_command("clusters", "terminate", "cmd2", "--force", stdout=io.StringIO())
    assert not ClusterRecord.objects.filter(name="cmd2").exists()


# -------------------------------------------------------------------- admin
@pytest.mark.dask
def test_admin_clusters_page_creates_starts_resizes_and_terminates(
    tmp_path: Path, admin_client: WebClient
) -> None:
    config = local_config(tmp_path, size=1)
    changelist = reverse("admin:tethys_compute_cluster_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and b"Clusters" in page.content

    # A bad template is refused on the form, naming the templates there are.
    add = reverse("admin:tethys_compute_cluster_add")
    bad = admin_client.post(
        add, {"name": "adm1", "config_path": str(config), "template": "nope", "size": 1}
    )
    assert bad.status_code == 200 and b"available templates: dev" in bad.content

    created = admin_client.post(
        add,
        {
            "name": "adm1",
            "config_path": str(config),
            "template": "dev",
            "size": 1,
            "start_now": "on",
            "aws_access_key_id_input": "AKIAEXAMPLE",
            "aws_secret_access_key_input": "very-secret-value",
        },
    )
    assert created.status_code == 302
    record = service.wait("adm1", timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    page = admin_client.get(changelist)
    assert b"Running" in page.content and b"adm1" in page.content
    change = admin_client.get(reverse("admin:tethys_compute_cluster_change", args=[record.pk]))
    assert change.status_code == 200
    assert b"very-secret-value" not in change.content and b"AKIAEXAMPLE" not in change.content
    assert b"stored (encrypted, not shown)" in change.content

    resize_form = admin_client.post(
        changelist, {"action": "resize_clusters", "_selected_action": [record.pk]}
    )
    assert resize_form.status_code == 200 and b"New size" in resize_form.content
    admin_client.post(
        changelist,
        {"action": "resize_clusters", "_selected_action": [record.pk], "apply": "1", "size": 2},
    )
    record = service.wait("adm1", timeout=60)
    assert record is not None and (record.status, record.size) == ("RUN", 2)
    same = admin_client.post(
        changelist,
        {"action": "resize_clusters", "_selected_action": [record.pk], "apply": "1", "size": 2},
        follow=True,
    )
    assert "Cluster “adm1”: cluster &#x27;adm1&#x27; already has 2 nodes" in same.content.decode()
    assert ClusterRecord.objects.get(pk=record.pk).status == "RUN"

    # While busy the list reloads itself and shows the progress message.
    ClusterRecord.objects.filter(pk=record.pk).update(status="UPD", status_message="adding node002")
    page = admin_client.get(changelist)
    assert b'http-equiv="refresh"' in page.content and b"adding node002" in page.content
    ClusterRecord.objects.filter(pk=record.pk).update(status="RUN", status_message="running")

    admin_client.post(changelist, {"action": "stop_clusters", "_selected_action": [record.pk]})
    record = service.wait("adm1", timeout=60)
    assert record is not None and record.status == "STP"
    admin_client.post(changelist, {"action": "start_clusters", "_selected_action": [record.pk]})
    record = service.wait("adm1", timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    admin_client.post(changelist, {"action": "terminate_clusters", "_selected_action": [record.pk]})
    assert service.wait("adm1", timeout=60) is None
    assert not Scheduler.objects.filter(name="adm1").exists()


def test_admin_can_create_without_starting_and_never_deletes_rows(
    tmp_path: Path, admin_client: WebClient
) -> None:
    config = local_config(tmp_path, size=1)
    response = admin_client.post(
        reverse("admin:tethys_compute_cluster_add"),
        {"name": "adm2", "config_path": str(config), "template": ""},
    )
    assert response.status_code == 302
    record = ClusterRecord.objects.get(name="adm2")
    assert (record.status, record.template, record.provider) == ("STP", "dev", "LOC")
    assert record.size == 1  # the template's CLUSTER_SIZE
    delete = admin_client.get(reverse("admin:tethys_compute_cluster_delete", args=[record.pk]))
    assert delete.status_code == 403
    record.delete()


def test_errors_share_the_one_hierarchy() -> None:
    for error in (
        exceptions.ClusterDoesNotExist("x"),
        exceptions.ProviderError("x"),
        exceptions.AzureNotAvailable(),
        exceptions.ConfigError("x"),
    ):
        assert isinstance(error, TethysComputeError)
    assert isinstance(exceptions.AzureNotAvailable(), NotImplementedError)
    assert Node.__name__ == "Node"


@pytest.mark.parametrize(
    "module",
    [
        "tethys_compute.clusters.manager",
        "tethys_compute.clusters.providers.aws",
        "tethys_compute.clusters.plugins.condor",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
