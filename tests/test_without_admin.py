"""A project that installs tethys_compute without django.contrib.admin still works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_app_runs_without_the_admin(tmp_path: Path) -> None:
    (tmp_path / "api_only_settings.py").write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "x"
            USE_TZ = True
            INSTALLED_APPS = [
                "django.contrib.auth", "django.contrib.contenttypes", "tethys_compute",
            ]
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
            TETHYS_COMPUTE = {"ENCRYPTION_KEYS": [@@KEY@@]}
            """
        ).replace("@@KEY@@", repr("dGVzdHMtb25seS1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="))
    )
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        call_command("check", fail_level="WARNING")
        from tethys_sdk.compute import create_dask_scheduler, get_scheduler
        create_dask_scheduler("api-only", "localhost:8786")
        print(type(get_scheduler("api-only")).__name__)
        """
    )
    env = dict(
        os.environ,
        PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}",
        DJANGO_SETTINGS_MODULE="api_only_settings",
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("DaskScheduler")
