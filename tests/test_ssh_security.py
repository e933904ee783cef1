"""SSH and secrets under attack: error reports, known_hosts markers (real loopback sshd)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.views.debug import ExceptionReporter

from tests.fixtures.sshd import SSHD
from tethys_compute import ssh
from tethys_compute.exceptions import SSHHostKeyError, SSHKeyError, TethysComputeError
from tethys_compute.models import CondorScheduler
from tethys_compute.ssh import SSHHost, SSHTarget, pool

pytestmark = pytest.mark.sshd

WRONG_PASSPHRASE = "not-the-passphrase-but-still-secret-7781"


@pytest.fixture(autouse=True)
def _fresh_connections() -> Iterator[None]:
    ssh.close_connections()
    yield
    ssh.close_connections()


@pytest.fixture
def server(sshd_running: SSHD) -> SSHD:
    return sshd_running


def key_body(path: Path) -> str:
    """A line from the middle of a private key file: proof that key text leaked."""
    lines = path.read_text().splitlines()
    return lines[len(lines) // 2]


def error_reports(exc_info: Any) -> list[str]:
    """What Django would show: the 500 page / AdminEmailHandler HTML, and the text report."""
    with override_settings(DEBUG=False):  # production: the safe filter is active
        email = ExceptionReporter(None, *exc_info, is_email=True)
        page = ExceptionReporter(None, *exc_info)
        return [email.get_traceback_html(), email.get_traceback_text(), page.get_traceback_html()]


def frames_of(exc_info: Any) -> list[str]:
    names = []
    tb = exc_info[2]
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


# ----------------------------------------------------------------------
# Item 4: frames that hold key material show none of it in error reports
# ----------------------------------------------------------------------
def test_key_loading_frames_hide_the_key_and_passphrase_in_error_reports(server: SSHD) -> None:
    key_path = server.keys["ed25519_pass"]
    target = SSHTarget(
        host=server.host,
        port=server.port,
        username=server.username,
        private_key=key_path.read_text(),
        private_key_pass=WRONG_PASSPHRASE,
        host_key=server.host_key_line,
    )
    try:
        SSHHost(target).run(["true"])
    except SSHKeyError:
        exc_info = sys.exc_info()
    else:  # pragma: no cover - the wrong passphrase must fail
        pytest.fail("a wrong passphrase logged in")
    frames = frames_of(exc_info)
    assert "load_private_key" in frames and "_decrypt_key" in frames
    for report in error_reports(exc_info):
        assert "load_private_key" in report  # the frame is in the report...
        assert WRONG_PASSPHRASE not in report  # ...but not its secrets
        assert key_body(key_path) not in report
        assert "********" in report


@pytest.mark.django_db
def test_authenticate_and_record_frames_hide_secrets_in_error_reports(server: SSHD) -> None:
    key_path = server.unauthorized_key
    scheduler = CondorScheduler.objects.create(
        name="rejected-key",
        host=server.host,
        port=server.port,
        username=server.username,
        private_key=key_path.read_text(),
        host_key=server.host_key_line,
    )
    record = CondorScheduler.objects.get(pk=scheduler.pk)
    try:
        record.get_remote_host().run(["true"])
    except SSHKeyError:
        exc_info = sys.exc_info()
    else:  # pragma: no cover
        pytest.fail("an unauthorized key logged in")
    assert "authenticate" in frames_of(exc_info)
    for report in error_reports(exc_info):
        assert key_body(key_path) not in report
        assert "PRIVATE KEY" not in report


# ----------------------------------------------------------------------
# Item 9: OpenSSH marker lines in known_hosts, and paramiko errors mapped
# ----------------------------------------------------------------------
def other_key_line(tmp_path: Path, name: str = "other") -> str:
    path = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def target_for(server: SSHD, known_hosts: Path, **overrides: Any) -> SSHTarget:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "known_hosts": str(known_hosts),
        "label": "markers",
    }
    values.update(overrides)
    return SSHTarget(**values)


def test_cert_authority_and_revoked_lines_are_read_not_fatal(
    server: SSHD, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = other_key_line(tmp_path, "ca")
    gone = other_key_line(tmp_path, "gone")
    known = server.write_known_hosts(
        tmp_path / "kh",
        [
            f"@cert-authority *.example.com {ca}",
            f"@revoked old.example.net {gone}",
            f"[127.0.0.1]:{server.port} {server.host_key_line}",
        ],
    )
    with caplog.at_level(logging.INFO, logger="tethys_compute.ssh.known_hosts"):
        host = SSHHost(target_for(server, known))
        assert host.run(["true"]).ok
    assert "known_hosts" in pool.connection_for(host.target).host_key_status
    notes = [r.getMessage() for r in caplog.records if r.name == "tethys_compute.ssh.known_hosts"]
    assert any("line 1 ignored" in n and "@cert-authority" in n for n in notes), notes


def test_a_revoked_host_key_is_refused_even_when_listed_or_pinned(
    server: SSHD, tmp_path: Path
) -> None:
    known = server.write_known_hosts(
        tmp_path / "kh",
        [
            f"@revoked * {server.host_key_line}",
            f"[127.0.0.1]:{server.port} {server.host_key_line}",
        ],
    )
    prefer_ed25519 = {"host_key": server.host_key_line}  # only that key type is negotiated
    for overrides in ({}, prefer_ed25519):
        ssh.close_connections()
        with pytest.raises(SSHHostKeyError, match="REVOKED") as info:
            SSHHost(target_for(server, known, **overrides)).run(["true"])
        assert server.password not in str(info.value)


def test_a_broken_known_hosts_line_is_skipped_not_fatal(server: SSHD, tmp_path: Path) -> None:
    known = server.write_known_hosts(
        tmp_path / "kh",
        [
            "example.org ssh-ed25519 %%%not-base64%%%",
            f"[127.0.0.1]:{server.port} {server.host_key_line}",
        ],
    )
    assert SSHHost(target_for(server, known)).run(["true"]).ok


@pytest.mark.django_db
def test_connection_test_with_marker_lines_reports_ok_not_an_exception(
    server: SSHD, tmp_path: Path, settings: Any
) -> None:
    known = server.write_known_hosts(
        tmp_path / "kh",
        [
            f"@cert-authority * {other_key_line(tmp_path)}",
            f"[127.0.0.1]:{server.port} {server.host_key_line}",
        ],
    )
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SSH_KNOWN_HOSTS": str(known)}
    scheduler = CondorScheduler.objects.create(
        name="markers",
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
    )
    result = scheduler.test_connection()
    names = {check.name: check.ok for check in result.checks}
    assert names.get("host key") is True, result.as_dict()


def test_errors_of_the_ssh_layer_are_ours(server: SSHD, tmp_path: Path) -> None:
    # A known_hosts path that is a directory: reading it fails inside the SSH layer.
    with pytest.raises(TethysComputeError, match="known_hosts"):
        SSHHost(target_for(server, tmp_path)).run(["true"])
