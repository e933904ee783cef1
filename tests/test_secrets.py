"""Secrets at rest: encryption, fail-closed decryption, rotation, system checks."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection
from django.test import override_settings

from tethys_compute import crypto
from tethys_compute.checks import check_encryption_keys
from tethys_compute.exceptions import EncryptionKeyError
from tethys_compute.models import CondorScheduler
from tethys_sdk.compute import create_condor_scheduler, get_scheduler

pytestmark = pytest.mark.django_db

KEY_A = "dGVzdHMtb25seS1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="  # the suite's key (tests/settings.py)
KEY_B = crypto.generate_key()
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"


def _keys(*keys: str):
    return override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": list(keys)})


def _raw(column: str, name: str) -> str:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT c.{column} FROM tethys_compute_condorscheduler c "
            "JOIN tethys_compute_scheduler s ON s.id = c.scheduler_ptr_id WHERE s.name = %s",
            [name],
        )
        return cur.fetchone()[0]


def test_secrets_are_ciphertext_in_the_database():
    create_condor_scheduler(
        "a", "h.example.com", "u", "hunter2", private_key=PEM, private_key_pass="sesame"
    )
    for column, plain in (
        ("password", "hunter2"),
        ("private_key", PEM),
        ("private_key_pass", "sesame"),
    ):
        raw = _raw(column, "a")
        assert raw.startswith(crypto.PREFIX)
        assert plain not in raw
    s = get_scheduler("a")
    assert (s.password, s.private_key, s.private_key_pass) == ("hunter2", PEM, "sesame")


def test_unset_secret_reads_as_none_and_stores_empty():
    create_condor_scheduler("a", "h.example.com", "u", private_key_path="/k")
    assert get_scheduler("a").password is None
    assert _raw("password", "a") == ""


def test_saving_untouched_secret_keeps_ciphertext_byte_for_byte():
    create_condor_scheduler("a", "h.example.com", "u", "hunter2")
    before = _raw("password", "a")
    s = get_scheduler("a")
    s.description = "edited"
    s.save()
    assert _raw("password", "a") == before


def test_wrong_key_fails_closed_on_read():
    create_condor_scheduler("a", "h.example.com", "u", "hunter2")
    with _keys(KEY_B):
        s = get_scheduler("a")  # loading works: nothing is decrypted yet
        assert s.username == "u"
        with pytest.raises(EncryptionKeyError, match="none of the configured encryption keys"):
            _ = s.password
        # Saving another field does not re-encrypt or damage the secret.
        s.description = "x"
        s.save()
    assert get_scheduler("a").password == "hunter2"


def test_missing_key_fails_closed_with_a_clear_error(monkeypatch):
    monkeypatch.delenv("TETHYS_COMPUTE_ENCRYPTION_KEYS", raising=False)
    with override_settings(TETHYS_COMPUTE={}):
        with pytest.raises(EncryptionKeyError, match="No encryption key is configured"):
            create_condor_scheduler("a", "h.example.com", "u", "hunter2")
    assert CondorScheduler.objects.count() == 0


def test_plaintext_in_the_column_is_refused_not_returned():
    create_condor_scheduler("a", "h.example.com", "u", "hunter2")
    CondorScheduler.objects.filter(name="a").update(password="not-ciphertext")
    # .update() with a str goes through the field, so it is encrypted: write raw SQL instead.
    with connection.cursor() as cur:
        cur.execute("UPDATE tethys_compute_condorscheduler SET password = %s", ["plain"])
    with pytest.raises(EncryptionKeyError, match="not encrypted"):
        _ = get_scheduler("a").password


def test_keys_from_environment_variable(monkeypatch):
    monkeypatch.setenv("TETHYS_COMPUTE_ENCRYPTION_KEYS", f"{KEY_B},{KEY_A}")
    with override_settings(TETHYS_COMPUTE={}):
        create_condor_scheduler("a", "h.example.com", "u", "hunter2")
        assert get_scheduler("a").password == "hunter2"
    with _keys(KEY_B):
        assert get_scheduler("a").password == "hunter2"


def test_keys_from_file(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# newest first\n{KEY_B}\n")
    with override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEY_FILE": str(key_file)}):
        create_condor_scheduler("a", "h.example.com", "u", "hunter2")
    with _keys(KEY_B):
        assert get_scheduler("a").password == "hunter2"


def test_rotation_reencrypts_everything_with_the_newest_key():
    create_condor_scheduler("a", "h.example.com", "u", "pw-a")
    create_condor_scheduler("b", "h.example.com", "u", private_key=PEM, private_key_pass="pp")
    before = _raw("password", "a")
    with _keys(KEY_B, KEY_A):
        call_command("compute_rotate_keys", stdout=io.StringIO())
        assert _raw("password", "a") != before
    # Only the new key is needed now.
    with _keys(KEY_B):
        assert get_scheduler("a").password == "pw-a"
        assert get_scheduler("b").private_key == PEM
        assert get_scheduler("b").private_key_pass == "pp"


def test_rotation_is_all_or_nothing_when_a_secret_cannot_be_read():
    create_condor_scheduler("a", "h.example.com", "u", "pw-a")
    with _keys(KEY_B):
        create_condor_scheduler("b", "h.example.com", "u", "pw-b")
    before = _raw("password", "a"), _raw("password", "b")
    key_c = crypto.generate_key()
    with _keys(key_c, KEY_A):  # KEY_B is missing: 'b' cannot be read
        with pytest.raises(CommandError, match="Nothing was changed"):
            call_command("compute_rotate_keys")
    assert (_raw("password", "a"), _raw("password", "b")) == before


def test_generate_key_command_prints_a_valid_key(capsys):
    call_command("compute_generate_key")
    key = capsys.readouterr().out.strip()
    assert crypto.validate_keys([key]) == []


@pytest.mark.parametrize(
    ("settings_value", "debug", "check_id"),
    [
        ({}, False, "tethys_compute.E001"),
        ({}, True, "tethys_compute.W001"),
        ({"ENCRYPTION_KEYS": ["not-a-key"]}, False, "tethys_compute.E002"),
        ({"ENCRYPTION_KEY_FILE": "/nonexistent/keys"}, False, "tethys_compute.E002"),
    ],
)
def test_system_check_reports_missing_or_malformed_keys(
    monkeypatch, settings_value, debug, check_id
):
    monkeypatch.delenv("TETHYS_COMPUTE_ENCRYPTION_KEYS", raising=False)
    with override_settings(TETHYS_COMPUTE=settings_value, DEBUG=debug):
        messages = check_encryption_keys()
    assert [m.id for m in messages] == [check_id]
    assert "not-a-key" not in messages[0].msg


def test_system_check_passes_with_valid_keys():
    assert check_encryption_keys() == []


def test_system_check_warns_about_unknown_settings():
    from tethys_compute.checks import check_settings

    with override_settings(TETHYS_COMPUTE={"ENCRYPTION_KEYS": [KEY_A], "SSH_TIMEOUT": 3}):
        messages = check_settings()
    assert [m.id for m in messages] == ["tethys_compute.W002"]
    assert "SSH_TIMEOUT" in messages[0].msg


def test_manage_py_check_runs_our_checks(monkeypatch):
    monkeypatch.delenv("TETHYS_COMPUTE_ENCRYPTION_KEYS", raising=False)
    with override_settings(TETHYS_COMPUTE={}):
        with pytest.raises(SystemCheckError, match="tethys_compute.E001"):
            call_command("check", "--deploy", "--fail-level", "ERROR")
