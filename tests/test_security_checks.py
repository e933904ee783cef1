"""System check for Dask schedulers reached over plain TCP off this machine."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from tethys_compute.models import DaskScheduler

pytestmark = pytest.mark.django_db

CHECK_ID = "tethys_compute.W014"


@pytest.fixture
def records() -> None:
    for name, host in [
        ("remote-plain", "tcp://10.0.0.5:8786"),
        ("remote-no-scheme", "dask.example.org:8786"),
        ("remote-tls", "tls://10.0.0.7:8786"),
        ("loopback", "tcp://127.0.0.1:8786"),
        ("localhost", "localhost:8786"),
        ("loopback-v6", "tcp://[::1]:8786"),
    ]:
        DaskScheduler.objects.create(name=name, host=host)


def test_plain_tcp_to_another_host_is_a_warning_naming_the_record_and_tls(records: None) -> None:
    found = [m for m in run_checks(databases=["default"]) if m.id == CHECK_ID]
    assert sorted(m.obj for m in found) == ["remote-no-scheme", "remote-plain"]
    for message in found:
        assert "plain TCP" in message.msg
        assert "tls://" in message.hint and "DASK_TLS_CA_FILE" in message.hint


def test_check_deploy_with_the_database_shows_it(records: None) -> None:
    err = StringIO()
    call_command("check", "--deploy", "--database", "default", stderr=err, stdout=StringIO())
    assert CHECK_ID in err.getvalue() and "remote-plain" in err.getvalue()


def test_it_is_a_database_check_like_djangos_own(records: None) -> None:
    # Without --database Django runs no database check, and neither does this one.
    assert not [m for m in run_checks() if m.id == CHECK_ID]
