"""A submit host whose HTCondor is not on the SSH session's PATH (issue 15).

A loopback sshd whose account has no HTCondor on its PATH; the HTCondor stand-in is
"installed" in the repository's ``tests/htcondor_standin/bin`` and reached only through the
scheduler's ``condor_bin_dir``, with its state directory set by an environment file
(``remote_profile``) and ``CONDOR_CONFIG`` exported, over real SSH.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.fixtures.sshd import SSHD, standin_bin, start_sshd
from tests.test_condor_e2e import make_scheduler
from tethys_compute import condor
from tethys_compute.condor.environment import EnvironmentHost
from tethys_compute.exceptions import CondorNotInstalledError
from tethys_compute.models import CondorScheduler

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]


@pytest.fixture(scope="module")
def bare_sshd() -> Iterator[tuple[SSHD, Path, str]]:
    """An sshd whose account's PATH has no HTCondor, an environment file, and the bin dir.

    The stand-in's bin directory is the repository's, or a copy the test
    account can reach when the checkout is private (a clone in a 0700 folder).
    """
    workdir = Path(tempfile.mkdtemp(prefix="tethys-sshd-condorenv-"))
    workdir.chmod(0o755)
    try:
        server = start_sshd(workdir / "sshd", username="tethys-condorenv", path_prepend=[])
    except Exception as exc:  # noqa: BLE001 - the fixture must say why it cannot start
        pytest.fail(f"Cannot start the sshd without HTCondor on PATH: {exc}", pytrace=False)
    state = workdir / "condor-state"
    state.mkdir()
    shutil.chown(state, user=server.username)
    profile = workdir / "condor-env.sh"
    profile.write_text(
        f"CONDOR_STANDIN_DIR={state}; export CONDOR_STANDIN_DIR\n"
        "CONDOR_STANDIN_START_DELAY=0.05; export CONDOR_STANDIN_START_DELAY\n"
        "CONDOR_STANDIN_POLL=0.05; export CONDOR_STANDIN_POLL\n"
    )
    profile.chmod(0o644)
    bin_dir = standin_bin(workdir)
    assert bin_dir is not None
    try:
        yield server, profile, bin_dir
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_htcondor_off_path_is_reached_through_the_schedulers_environment(
    bare_sshd: tuple[SSHD, Path, str],
) -> None:
    server, profile, bin_dir = bare_sshd
    scheduler = make_scheduler(server, "condor-off-path")
    failed = scheduler.test_connection()
    assert not failed.ok and "condor_version" in failed.summary

    scheduler.condor_bin_dir = bin_dir
    scheduler.remote_profile = str(profile)
    scheduler.condor_config = "/opt/condor/etc/condor_config"
    scheduler.full_clean()
    scheduler.save()
    result = scheduler.test_connection()
    assert result.ok, result.summary
    assert result.versions["htcondor"] == "25.14.0"

    host = scheduler.get_remote_host()
    assert isinstance(host, EnvironmentHost)
    seen = host.run(["sh", "-c", 'printf "%s|%s" "$CONDOR_CONFIG" "$(command -v condor_q)"'])
    assert seen.stdout == f"/opt/condor/etc/condor_config|{bin_dir}/condor_q"
    assert seen.argv[0] == "sh" and seen.argv[1] == "-c"  # the caller's argv, not the wrapper's
    job = condor.submit(host, {"executable": "/bin/echo", "arguments": ["hi"], "output": "o"})
    final = condor.wait(host, str(job.cluster_id), timeout=20)
    assert all(info.succeeded for info in final.values())
    statuses = scheduler.job_statuses([str(job.cluster_id)])  # a batch: sh -c of its own
    assert next(iter(statuses.values())).succeeded
    assert (Path(job.remote_dir) / "o").read_text() == "hi\n"


def test_an_unreadable_environment_file_names_the_setting(
    bare_sshd: tuple[SSHD, Path, str],
) -> None:
    server, _profile, bin_dir = bare_sshd
    scheduler = make_scheduler(server, "condor-bad-profile")
    scheduler.condor_bin_dir = bin_dir
    scheduler.remote_profile = "/nonexistent/condor.sh"
    scheduler.save()
    result = scheduler.test_connection()
    assert not result.ok
    failed = [c for c in result.checks if not c.ok]
    assert [c.name for c in failed] == ["condor_version"]
    assert "remote_profile" in failed[0].detail and "/nonexistent/condor.sh" in failed[0].detail


def test_without_the_bin_directory_the_error_names_the_setting(
    bare_sshd: tuple[SSHD, Path, str],
) -> None:
    server, _profile, bin_dir = bare_sshd
    scheduler = make_scheduler(server, "condor-no-bin")
    with pytest.raises(CondorNotInstalledError, match="condor_bin_dir"):
        condor.condor_version(scheduler.get_remote_host())


def test_relative_paths_are_refused_with_the_field_named() -> None:
    scheduler = CondorScheduler(
        name="rel", host="submit.example.com", username="a", private_key_path="/k"
    )
    scheduler.condor_bin_dir = "opt/condor/bin"
    scheduler.condor_config = "~/condor_config"
    with pytest.raises(Exception) as info:
        scheduler.full_clean()
    errors = info.value.message_dict  # type: ignore[attr-defined]
    assert set(errors) == {"condor_bin_dir", "condor_config"}
    assert "absolute path on the submit host" in errors["condor_bin_dir"][0]


def test_cli_creates_shows_and_exports_the_environment(tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "schedulers",
        "create-condor",
        "offpath",
        "submit.example.com",
        "--username",
        "alice",
        "--private-key-path",
        "/home/portal/.ssh/id_ed25519",
        "--condor-bin-dir",
        "/opt/condor/bin",
        "--condor-config",
        "/opt/condor/etc/condor_config",
        "--remote-profile",
        "/etc/profile.d/condor.sh",
        "--no-input",
        stdout=out,
    )
    stored = CondorScheduler.objects.get(name="offpath")
    assert (stored.condor_bin_dir, stored.condor_config, stored.remote_profile) == (
        "/opt/condor/bin",
        "/opt/condor/etc/condor_config",
        "/etc/profile.d/condor.sh",
    )
    shown = StringIO()
    call_command("schedulers", "show", "offpath", stdout=shown)
    text = shown.getvalue()
    assert "condor_bin_dir" in text and "/opt/condor/bin" in text
    assert "remote_profile" in text and "/etc/profile.d/condor.sh" in text
    exported = tmp_path / "s.json"
    call_command("schedulers", "export", str(exported), stdout=StringIO())
    assert '"condor_config": "/opt/condor/etc/condor_config"' in exported.read_text()


def test_admin_pages_show_the_environment_fields(admin_client: object) -> None:
    response = admin_client.get("/admin/tethys_compute/condorscheduler/add/")  # type: ignore[attr-defined]
    html = response.content.decode()
    assert response.status_code == 200
    assert "HTCondor on the submit host" in html
    for field in ("remote_profile", "condor_bin_dir", "condor_config"):
        assert f'name="{field}"' in html
