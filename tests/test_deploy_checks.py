"""``manage.py check --deploy`` warns about settings that weaken a deployed portal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings

REPO = Path(__file__).resolve().parents[1]
SAFE = {
    "ENCRYPTION_KEYS": ["7nDbG7I3ccOPVTLb3ZN5e8nLgNEcLNZ0GqfGtmzGbuA="],
    "SSH_TRUST_ON_FIRST_USE": False,
    "JOB_CALLBACK_BASE_URL": "https://portal.example.org",
    "JOB_CALLBACK_MAX_AGE": 7 * 24 * 3600,
}


def our_ids(compute: dict[str, Any], deploy: bool = True) -> list[str]:
    with override_settings(TETHYS_COMPUTE=compute):
        messages = run_checks(include_deployment_checks=deploy)
    return sorted(m.id for m in messages if (m.id or "").startswith("tethys_compute.W01"))


def test_safe_settings_raise_no_deploy_warning() -> None:
    assert our_ids(SAFE) == []
    for loopback in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert our_ids({**SAFE, "JOB_CALLBACK_BASE_URL": loopback}) == []


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"SSH_TRUST_ON_FIRST_USE": True}, "tethys_compute.W010"),
        ({"JOB_CALLBACK_BASE_URL": "http://portal.example.org"}, "tethys_compute.W011"),
        ({"JOB_CALLBACK_BASE_URL": "http://10.0.0.5:8000/"}, "tethys_compute.W011"),
        ({"JOB_CALLBACK_MAX_AGE": 365 * 24 * 3600}, "tethys_compute.W012"),
    ],
)
def test_each_risky_setting_is_a_deploy_warning(change: dict[str, Any], warning: str) -> None:
    assert our_ids({**SAFE, **change}) == [warning]
    assert our_ids({**SAFE, **change}, deploy=False) == []  # only with --deploy


def test_key_file_readable_by_others_is_a_deploy_warning(tmp_path: Path) -> None:
    key_file = tmp_path / "encryption.key"
    key_file.write_text(SAFE["ENCRYPTION_KEYS"][0] + "\n")
    settings = {**SAFE, "ENCRYPTION_KEYS": None, "ENCRYPTION_KEY_FILE": str(key_file)}
    key_file.chmod(0o644)
    assert our_ids(settings) == ["tethys_compute.W013"]
    err = io.StringIO()
    with override_settings(TETHYS_COMPUTE=settings):
        call_command("check", "--deploy", stderr=err, stdout=io.StringIO())
    assert "tethys_compute.W013" in err.getvalue() and "0644" in err.getvalue()
    key_file.chmod(0o600)
    assert our_ids(settings) == []


def _portal_secret_key(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests" / "example_portal"), str(REPO)])
    done = subprocess.run(
        [sys.executable, "-c", "import portal.settings as s; print(s.SECRET_KEY)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_example_portal_generates_its_secret_key_into_its_data_folder(tmp_path: Path) -> None:
    """The portal serves callbacks signed with SECRET_KEY: it must not be a public string."""
    first = _portal_secret_key(tmp_path / "a")
    assert len(first) >= 50 and "example" not in first
    key_file = tmp_path / "a" / "secret.key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert _portal_secret_key(tmp_path / "a") == first  # kept between runs
    assert _portal_secret_key(tmp_path / "b") != first  # each portal its own
