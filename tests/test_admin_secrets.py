"""Secrets and permissions in the admin: nothing decrypted to render a page, for anyone.

Each test logs in a real user (view-only staff, change-only staff, superuser)
and drives the admin through Django's test client.  "Nothing is decrypted" is
proven with a wrong-key setup: if rendering read a secret, the page would fail
(``EncryptionKeyError``) instead of answering 200.
"""

from __future__ import annotations

import json
import re
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.views.debug import ExceptionReporter

from tethys_compute import crypto
from tethys_compute.clusters import service
from tethys_compute.exceptions import EncryptionKeyError, SchedulerValidationError
from tethys_compute.models import Cluster, CondorScheduler, DaskScheduler

pytestmark = pytest.mark.django_db

PASSWORD = "Pl41n-Passw0rd-visible?"
PASSPHRASE = "Pl41n-Passphrase-visible?"
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAAsecretbody"
KEY_TEXT = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_KEY = crypto.generate_key()  # opens nothing stored by the suite's key


def wrong_key() -> override_settings:
    """Settings whose only encryption key opens none of the stored secrets."""
    return override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": [OTHER_KEY]})


def condor_url(pk: int, suffix: str = "change/") -> str:
    return f"/admin/tethys_compute/condorscheduler/{pk}/{suffix}"


def cluster_url(pk: int) -> str:
    return f"/admin/tethys_compute/cluster/{pk}/change/"


def assert_nothing_secret(html: str) -> None:
    for text in (PASSWORD, PASSPHRASE, KEY_BODY, AWS_SECRET, "fernet:"):
        assert text not in html, f"{text!r} is in the page"


@pytest.fixture
def condor() -> CondorScheduler:
    """A record holding all three secrets (key text with a passphrase, and a password)."""
    return CondorScheduler.objects.create(
        name="Secretive",
        host="127.0.0.1",
        username="alice",
        password=PASSWORD,
        private_key=KEY_TEXT,
        private_key_pass=PASSPHRASE,
    )


@pytest.fixture
def cluster() -> Cluster:
    return Cluster.objects.create(
        name="aws-one",
        template="default",
        provider=Cluster.Provider.AWS,
        size=2,
        aws_access_key_id="AKIAEXAMPLEKEYID0001",
        aws_secret_access_key=AWS_SECRET,
    )


def login(client: Client, *codenames: str, superuser: bool = False) -> Client:
    if superuser:
        user = User.objects.create_superuser("root", password="pw")
    else:
        user = User.objects.create_user("staff", password="pw", is_staff=True)
        for codename in codenames:
            user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


VIEW = ("view_scheduler", "view_condorscheduler", "view_cluster")
CHANGE = ("view_scheduler", "change_condorscheduler", "change_cluster")
LEVELS = {
    "view-only": {"codenames": VIEW},
    "change": {"codenames": CHANGE},
    "superuser": {"superuser": True},
}


def as_level(client: Client, level: str) -> Client:
    options = LEVELS[level]
    return login(client, *options.get("codenames", ()), superuser=bool(options.get("superuser")))


# ----------------------------------------------------------------------
# Item 2: no page shows (or decrypts) a secret, at any permission level
# ----------------------------------------------------------------------
@pytest.mark.parametrize("level", list(LEVELS))
def test_condor_change_page_shows_only_whether_secrets_are_stored(
    client: Client, condor: CondorScheduler, level: str
) -> None:
    client = as_level(client, level)
    response = client.get(condor_url(condor.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert_nothing_secret(html)
    if level == "view-only":
        assert html.count("stored (encrypted, not shown)") == 3
        assert "Keep the stored credentials" not in html and "clear_password" not in html
    else:
        assert "A password is stored." in html and "A private key is stored." in html


@pytest.mark.parametrize("level", list(LEVELS))
def test_rendering_condor_pages_decrypts_nothing(
    client: Client, condor: CondorScheduler, level: str
) -> None:
    client = as_level(client, level)
    with wrong_key():
        for url in (condor_url(condor.pk), condor_url(condor.pk, "history/"), "/admin/"):
            response = client.get(url)
            assert response.status_code == 200, url
            assert_nothing_secret(response.content.decode())


@pytest.mark.parametrize("level", list(LEVELS))
def test_cluster_change_page_shows_only_whether_credentials_are_stored(
    client: Client, cluster: Cluster, level: str
) -> None:
    client = as_level(client, level)
    with wrong_key():
        response = client.get(cluster_url(cluster.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "stored (encrypted, not shown)" in html
    assert_nothing_secret(html)
    assert "AKIAEXAMPLEKEYID0001" not in html


# ----------------------------------------------------------------------
# Item 8: a wrong key does not turn edits into server errors
# ----------------------------------------------------------------------
def form_data(record: CondorScheduler, **overrides: str) -> dict[str, str]:
    data = {
        "name": record.name,
        "description": record.description,
        "host": record.host,
        "port": str(record.port),
        "host_key": record.host_key,
        "username": record.username,
        "private_key_path": record.private_key_path,
        "password": "",
        "private_key": "",
        "private_key_pass": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("level", ["change", "superuser"])
def test_description_edit_works_without_the_right_key(
    client: Client, condor: CondorScheduler, level: str
) -> None:
    client = as_level(client, level)
    before = CondorScheduler.objects.filter(pk=condor.pk).values_list("private_key", flat=True)[0]
    with wrong_key():
        response = client.post(condor_url(condor.pk), form_data(condor, description="edited"))
    assert response.status_code == 302, response.content.decode()[:3000]
    after = CondorScheduler.objects.filter(pk=condor.pk).values_list("private_key", flat=True)[0]
    assert after == before  # the ciphertext is written back untouched
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.description == "edited"
    assert fresh.private_key == KEY_TEXT


def test_a_new_secret_without_any_key_is_a_form_error_not_a_500(
    client: Client, condor: CondorScheduler
) -> None:
    client = as_level(client, "superuser")
    with override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": []}):
        response = client.post(condor_url(condor.pk), form_data(condor, password="new-one"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No encryption key is configured" in html, re.findall(r"errorlist.{0,300}", html)
    assert "new-one" not in html
    assert CondorScheduler.objects.get(pk=condor.pk).password == PASSWORD


# ----------------------------------------------------------------------
# Item 3: stored credentials never follow a changed target silently
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [{"host": "attacker.example.net"}, {"port": "2222"}, {"username": "mallory"}],
)
def test_changing_the_target_in_the_admin_needs_the_secrets_again(
    client: Client, condor: CondorScheduler, change: dict[str, str]
) -> None:
    client = as_level(client, "change")
    response = client.post(condor_url(condor.pk), form_data(condor, **change))
    assert response.status_code == 200
    html = response.content.decode()
    (field,) = change
    assert f"You changed {field}" in html
    assert "password, private_key, private_key_pass" in html
    # The admin's way out, not the Python API's.
    assert "Keep the stored credentials for the new host" in html
    assert "keep_credentials_for_new_target" not in html and "save()" not in html
    assert_nothing_secret(html)
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert (fresh.host, fresh.port, fresh.username) == ("127.0.0.1", 22, "alice")


def test_changing_the_target_with_every_secret_given_again_is_saved(
    client: Client, condor: CondorScheduler
) -> None:
    client = as_level(client, "change")
    data = form_data(
        condor,
        host="other.example.net",
        password="pw-for-other",
        private_key=KEY_TEXT,
        private_key_pass="pass-for-other",
    )
    response = client.post(condor_url(condor.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.host == "other.example.net" and fresh.password == "pw-for-other"


def test_a_change_user_cannot_keep_the_stored_credentials_for_a_new_host(
    client: Client, condor: CondorScheduler
) -> None:
    client = as_level(client, "change")
    assert (
        "keep_credentials_for_new_target" not in client.get(condor_url(condor.pk)).content.decode()
    )
    data = form_data(condor, host="attacker.example.net", keep_credentials_for_new_target="on")
    response = client.post(condor_url(condor.pk), data)
    assert response.status_code == 200
    assert CondorScheduler.objects.get(pk=condor.pk).host == "127.0.0.1"


def test_a_superuser_may_keep_the_stored_credentials_for_a_new_host(
    client: Client, condor: CondorScheduler
) -> None:
    client = as_level(client, "superuser")
    assert "keep_credentials_for_new_target" in client.get(condor_url(condor.pk)).content.decode()
    data = form_data(condor, host="new.example.net", keep_credentials_for_new_target="on")
    response = client.post(condor_url(condor.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.host == "new.example.net" and fresh.password == PASSWORD


def test_save_refuses_a_new_target_with_stored_secrets(condor: CondorScheduler) -> None:
    record = CondorScheduler.objects.get(pk=condor.pk)
    record.host = "attacker.example.net"
    with pytest.raises(SchedulerValidationError, match="You changed host") as info:
        record.save()
    assert "keep_credentials_for_new_target" in str(info.value)
    assert_nothing_secret(str(info.value))
    assert CondorScheduler.objects.get(pk=condor.pk).host == "127.0.0.1"
    # Giving the secrets again (or clearing them) is enough.
    record.password = "again"
    record.private_key = None
    record.private_key_pass = None
    record.save()
    assert CondorScheduler.objects.get(pk=condor.pk).host == "attacker.example.net"


def test_save_keeps_secrets_for_a_new_target_when_told_to_once(condor: CondorScheduler) -> None:
    record = CondorScheduler.objects.get(pk=condor.pk)
    record.host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTestOnly0000000000000000"
    record.keep_credentials_for_new_target = True
    record.save()
    assert record.keep_credentials_for_new_target is False  # one save only
    record.port = 2200
    with pytest.raises(SchedulerValidationError, match="You changed port"):
        record.save()


def test_saving_other_fields_only_is_not_refused(condor: CondorScheduler) -> None:
    record = CondorScheduler.objects.get(pk=condor.pk)
    record.host = "attacker.example.net"
    record.description = "written alone"
    record.save(update_fields=["description"])
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert (fresh.host, fresh.description) == ("127.0.0.1", "written alone")


def test_saving_an_unchanged_target_needs_no_secret(condor: CondorScheduler) -> None:
    record = CondorScheduler.objects.get(pk=condor.pk)
    record.description = "only this"
    record.host = " 127.0.0.1 "  # the same after cleaning
    record.save()
    assert CondorScheduler.objects.get(pk=condor.pk).description == "only this"


def test_adding_a_cluster_with_credentials_and_no_key_is_a_form_error(client: Client) -> None:
    client = as_level(client, "superuser")
    config = Path(__file__).parent / "clusters" / "configs" / "portal_main.ini"
    data = {
        "name": "needs-a-key",
        "config_path": str(config),
        "template": "aws_default_cluster",
        "size": "1",
        "aws_access_key_id_input": "AKIAEXAMPLEKEYID0002",
        "aws_secret_access_key_input": AWS_SECRET,
    }
    with override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": []}):
        response = client.post("/admin/tethys_compute/cluster/add/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No encryption key is configured" in html, re.findall(r"errorlist.{0,300}", html)
    assert_nothing_secret(html)
    assert not Cluster.objects.filter(name="needs-a-key").exists()


def test_import_never_moves_stored_secrets_to_another_host(
    condor: CondorScheduler, tmp_path: Path
) -> None:
    export = tmp_path / "schedulers.json"
    entry = {"name": condor.name, "type": "condor", "host": "attacker.example.net"}
    export.write_text(json.dumps([entry]))
    with pytest.raises(CommandError, match="already exists"):
        call_command("schedulers", "import", str(export), stdout=StringIO())
    assert CondorScheduler.objects.get(pk=condor.pk).host == "127.0.0.1"


def test_error_reports_from_starting_a_cluster_hide_its_aws_keys() -> None:
    config = Path(__file__).parent / "clusters" / "configs" / "portal_main.ini"
    with override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": []}):
        try:
            service.start_cluster(  # the keys only as an argument: no local of this frame
                None,
                "keyless",
                config_path=str(config),
                credentials={"aws_access_key_id": "AKIAEX", "aws_secret_access_key": AWS_SECRET},
            )
        except EncryptionKeyError:
            exc_info = sys.exc_info()
        else:  # pragma: no cover - storing credentials needs a key
            pytest.fail("credentials were stored without an encryption key")
    with override_settings(DEBUG=False):
        reporter = ExceptionReporter(None, *exc_info, is_email=True)
        reports = [reporter.get_traceback_html(), reporter.get_traceback_text()]
    for report in reports:
        assert "start_cluster" in report
        assert AWS_SECRET not in report


def test_the_cli_never_moves_stored_secrets_to_another_host(condor: CondorScheduler) -> None:
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "schedulers",
            "create-condor",
            condor.name,
            "attacker.example.net",
            "--username",
            "alice",
            "--private-key-path",
            "/nonexistent/key",
            "--no-input",
            stdout=StringIO(),
        )
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.host == "127.0.0.1" and fresh.password == PASSWORD


def test_test_connection_with_the_wrong_key_reports_it_not_a_500(
    client: Client, condor: CondorScheduler
) -> None:
    client = as_level(client, "superuser")
    with wrong_key():
        response = client.post(condor_url(condor.pk, "test-connection/"), follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "none of the configured encryption keys" in html
    assert_nothing_secret(html)


def test_a_viewer_of_one_kind_finds_the_list_with_only_that_kind(
    client: Client, condor: CondorScheduler
) -> None:
    DaskScheduler.objects.create(name="dask-hidden", host="tcp://127.0.0.1:8786")
    client = login(client, "view_condorscheduler")
    index = client.get("/admin/").content.decode()
    assert "/admin/tethys_compute/scheduler/" in index  # the list is reachable
    response = client.get("/admin/tethys_compute/scheduler/")
    assert response.status_code == 200
    html = response.content.decode()
    assert condor.name in html and "dask-hidden" not in html
    # The row's link opens a page this user may view.
    assert client.get(condor_url(condor.pk)).status_code == 200
