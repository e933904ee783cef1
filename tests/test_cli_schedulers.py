"""``manage.py schedulers``: every subcommand and its errors, through ``call_command``."""

from __future__ import annotations

import base64
import io
import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

pytestmark = pytest.mark.django_db

SECRET = "cli-S3cret-pw"
PASSPHRASE = "cli-key-Passphrase"

# A well-formed (if made-up) ed25519 public key line, as ssh-keyscan prints one.
HOST_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + bytes(36)).decode()
)


def run(*args: str) -> str:
    """Run ``schedulers ARGS`` and return what it printed on stdout."""
    out = io.StringIO()
    call_command("schedulers", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        run(*args)
    return info.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two(monkeypatch: pytest.MonkeyPatch) -> tuple[CondorScheduler, DaskScheduler]:
    monkeypatch.setenv("CONDOR_PW", SECRET)
    run("create-condor", "Condor A", "submit.example.com", "--username", "alice",
        "--password-env", "CONDOR_PW", "--description", "the submit host")  # fmt: skip
    run(
        "create-dask", "Dask A", "127.0.0.1:8786", "--timeout", "3", "--dashboard", "127.0.0.1:8787"
    )
    return CondorScheduler.objects.get(name="Condor A"), DaskScheduler.objects.get(name="Dask A")


# ----------------------------------------------------------------------
# create-condor / create-dask
# ----------------------------------------------------------------------
def test_create_condor_reads_secrets_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEY_PASS", PASSPHRASE)
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    out = run("create-condor", "K", "10.0.0.5", "--port", "2222", "--username", "bob",
              "--private-key-file", str(key), "--private-key-pass-env", "KEY_PASS",
              "--host-key", HOST_KEY)  # fmt: skip
    assert "'K'" in out and "is created" in out
    saved = CondorScheduler.objects.get(name="K")
    assert (saved.host, saved.port, saved.username) == ("10.0.0.5", 2222, "bob")
    assert saved.private_key is not None and "BEGIN OPENSSH" in saved.private_key
    assert saved.private_key_pass == PASSPHRASE
    assert saved.host_key == HOST_KEY
    assert PASSPHRASE not in out


def test_create_condor_with_a_key_path_and_no_secrets_at_all() -> None:
    run("create-condor", "P", "submit.example.com", "--private-key-path", "/home/p/.ssh/id")
    saved = CondorScheduler.objects.get(name="P")
    assert saved.private_key_path == "/home/p/.ssh/id" and saved.password is None


def test_create_condor_errors_are_the_api_errors() -> None:
    error = fails("create-condor", "X", "user@submit.example.com", "--private-key-path", "/k")
    assert "put the user in 'username'" in str(error)
    error = fails("create-condor", "X", "submit.example.com")  # not interactive: no prompt
    assert "Give a way to log in" in str(error)
    # The command's own options, not the Python API's field names.
    assert "--password-env" in str(error) and "--private-key-file" in str(error)
    assert "(private_key)" not in str(error)
    error = fails("create-condor", "X", "submit.example.com", "--private-key-path", "rel/key")
    assert "relative path" in str(error)
    assert not Scheduler.objects.exists()


def test_create_condor_reports_missing_environment_variables_and_key_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NOPE_PW", raising=False)
    error = fails("create-condor", "X", "h.example.com", "--password-env", "NOPE_PW")
    assert "NOPE_PW" in str(error) and "not set" in str(error)
    monkeypatch.setenv("EMPTY_PW", "")
    assert "empty" in str(
        fails("create-condor", "X", "h.example.com", "--password-env", "EMPTY_PW")
    )
    missing = tmp_path / "missing"
    error = fails("create-condor", "X", "h.example.com", "--private-key-file", str(missing))
    assert "Cannot read the private key file" in str(error)


def test_secrets_cannot_be_given_on_the_command_line() -> None:
    error = fails("create-condor", "X", "h.example.com", "--password", SECRET)
    assert "unrecognized arguments" in str(error) or "--password" in str(error)


def test_create_dask_validates_like_the_api_and_is_idempotent() -> None:
    out = run("create-dask", "D", "tcp://127.0.0.1:8786", "--heartbeat-interval", "2000")
    assert "'D'" in out
    run("create-dask", "D", "tcp://127.0.0.1:8786", "--heartbeat-interval", "2000")
    assert DaskScheduler.objects.filter(name="D").count() == 1
    conflict = fails("create-dask", "D", "tcp://127.0.0.1:9999")
    assert "already exists" in str(conflict) and "host" in str(conflict)
    bad = fails("create-dask", "E", "http://x:1")
    assert "Scheme 'http' is not supported" in str(bad)
    negative = fails("create-dask", "E", "x:1", "--timeout", "-2")
    assert "cannot be negative" in str(negative)
    assert "invalid float value" in str(fails("create-dask", "E", "x:1", "--timeout", "soon"))


# ----------------------------------------------------------------------
# list / show
# ----------------------------------------------------------------------
def test_list_prints_a_table_and_json(two: tuple[CondorScheduler, DaskScheduler]) -> None:
    table = run("list")
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["NAME", "KIND", "HOST"]
    assert any(line.startswith("Condor A") and "condor" in line for line in lines)
    assert any(line.startswith("Dask A") and "never tested" in line for line in lines)
    data = json.loads(run("list", "--json"))
    assert [d["name"] for d in data] == ["Condor A", "Dask A"]
    assert data[0]["password_stored"] is True and data[0]["private_key_stored"] is False
    assert data[1]["timeout"] == 3.0 and data[1]["last_check"]["ok"] is None
    assert SECRET not in table + json.dumps(data) and "fernet:" not in table + json.dumps(data)


def test_list_with_no_schedulers_says_so() -> None:
    assert "No schedulers" in run("list")
    assert json.loads(run("list", "--json")) == []


def test_show_prints_settings_but_never_secrets(two: tuple[CondorScheduler, DaskScheduler]) -> None:
    out = run("show", "Condor A")
    assert "submit.example.com" in out and "the submit host" in out
    assert "password_stored" in out and "stored" in out
    assert SECRET not in out and "fernet:" not in out
    assert "never tested" in out
    error = fails("show", "Nobody")
    assert "No scheduler named 'Nobody'" in str(error)


# ----------------------------------------------------------------------
# remove
# ----------------------------------------------------------------------
def test_remove_needs_confirmation_when_not_interactive(
    two: tuple[CondorScheduler, DaskScheduler],
) -> None:
    error = fails("remove", "Dask A")
    assert "--yes" in str(error)
    assert DaskScheduler.objects.filter(name="Dask A").exists()
    assert "Removed" in run("remove", "Dask A", "--yes")
    assert not Scheduler.objects.filter(name="Dask A").exists()
    assert "No scheduler named" in str(fails("remove", "Dask A", "--yes"))


# ----------------------------------------------------------------------
# test
# ----------------------------------------------------------------------
def test_test_prints_each_result_and_exits_non_zero_on_failure() -> None:
    run("create-dask", "Down", f"tcp://127.0.0.1:{closed_port()}", "--timeout", "2")
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("schedulers", "test", "Down", stdout=out)
    assert info.value.returncode == 1
    assert "1 of 1 scheduler(s) failed: Down" in str(info.value)
    printed = out.getvalue()
    assert "Down" in printed and "FAILED" in printed
    stored = DaskScheduler.objects.get(name="Down")
    assert stored.last_check_ok is False and stored.last_check_summary in printed
    # The stored result shows in the list without testing again.
    assert stored.last_check_summary in run("list")


def test_test_reports_not_checked_with_its_own_exit_status() -> None:
    Scheduler.objects.create(name="Bare", host="somewhere")  # a record without a kind
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("schedulers", "test", stdout=out)
    assert info.value.returncode == 2
    assert "NOT CHECKED" in out.getvalue()


def test_test_rejects_unknown_names_before_testing(
    two: tuple[CondorScheduler, DaskScheduler],
) -> None:
    error = fails("test", "Dask A", "Ghost")
    assert "No scheduler named 'Ghost'" in str(error)
    assert DaskScheduler.objects.get(name="Dask A").last_check_at is None


def test_test_with_no_schedulers_succeeds() -> None:
    assert "No schedulers to test" in run("test")


# ----------------------------------------------------------------------
# export / import
# ----------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_export_then_import_round_trips(
    two: tuple[CondorScheduler, DaskScheduler], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"schedulers.{suffix}"
    run("export", str(path), "--include-secrets")
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert SECRET in text  # asked for
    before = {s.name: _fields(s) for s in Scheduler.objects.typed()}
    Scheduler.objects.all().delete()
    out = run("import", str(path))
    assert "Created 2 scheduler(s), 0 already up to date" in out
    after = {s.name: _fields(s) for s in Scheduler.objects.typed()}
    assert after == before
    assert CondorScheduler.objects.get(name="Condor A").password == SECRET
    # Idempotent: importing again changes nothing.
    assert "Created 0 scheduler(s), 2 already up to date" in run("import", str(path))
    assert Scheduler.objects.count() == 2


def test_export_with_secrets_never_reuses_an_existing_file_or_follows_a_link(
    two: tuple[CondorScheduler, DaskScheduler], tmp_path: Path
) -> None:
    existing = tmp_path / "shared.json"
    existing.write_text("old")
    existing.chmod(0o644)
    error = fails("export", str(existing), "--include-secrets")
    assert "exists" in str(error) and "--force" in str(error)
    assert existing.read_text() == "old"
    # --force replaces it by a new file readable by its owner only.
    run("export", str(existing), "--include-secrets", "--force")
    assert existing.stat().st_mode & 0o777 == 0o600
    assert SECRET in existing.read_text()
    # A symbolic link is refused, with or without --force; its target is untouched.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    for extra in ((), ("--force",)):
        error = fails("export", str(link), "--include-secrets", *extra)
        assert "symbolic link" in str(error)
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "not-there.json")
    fails("export", str(dangling), "--include-secrets")
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "not-there.json").exists()


def _fields(scheduler: Scheduler) -> dict[str, Any]:
    skip = {"id", "created", "modified", "scheduler_ptr"}
    return {
        f.attname: getattr(scheduler, f.attname)
        for f in scheduler._meta.concrete_fields
        if f.attname not in skip and not f.attname.endswith("_ptr_id")
    }


def test_export_leaves_secrets_out_by_default(
    two: tuple[CondorScheduler, DaskScheduler], tmp_path: Path
) -> None:
    printed = run("export", "--format", "yaml")
    data = yaml.safe_load(printed)
    names = [entry["name"] for entry in data["schedulers"]]
    assert names == ["Condor A", "Dask A"]
    assert "password" not in data["schedulers"][0]
    assert SECRET not in printed and "fernet:" not in printed
    as_json = json.loads(run("export"))
    assert as_json["schedulers"][1] == {
        "name": "Dask A",
        "type": "dask",
        "host": "127.0.0.1:8786",
        "timeout": 3.0,
        "dashboard": "127.0.0.1:8787",
    }
    # Importing the secret-less export over the existing records is a no-op.
    path = tmp_path / "plain.json"
    run("export", str(path))
    assert "2 already up to date" in run("import", str(path))
    assert CondorScheduler.objects.get(name="Condor A").password == SECRET


BAD_YAML = """\
schedulers:
  - name: Good
    type: dask
    host: 127.0.0.1:8786
  - name: Bad host
    type: dask
    host: http://nope:1
  - name: No login
    type: condor
    host: submit.example.com
  - name: Typo
    type: dask
    host: 127.0.0.1:1
    dashbord: x
  - just a string
  - name: Kind
    type: slurm
    host: x
"""


def test_import_yaml_reports_every_bad_entry_with_its_line_and_saves_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    error = str(fails("import", str(path)))
    assert "5 of 6 entries are not valid; nothing was imported" in error
    assert f"{path}:5: entry 2 ('Bad host'):" in error and "Scheme 'http'" in error
    assert f"{path}:8: entry 3 ('No login'):" in error and "Give a way to log in" in error
    assert f"{path}:11: entry 4 ('Typo'):" in error and "'dashbord'" in error
    assert f"{path}:15: entry 5:" in error and "must be a mapping" in error
    assert f"{path}:16: entry 6 ('Kind'):" in error and "slurm" in error
    assert not Scheduler.objects.exists()  # not even the good one


BAD_JSON = """[
  {"name": "Good", "type": "dask", "host": "127.0.0.1:8786"},
  {
    "name": "Bad port",
    "type": "condor",
    "host": "submit.example.com",
    "port": 70000,
    "private_key_path": "/k"
  },
  {"type": "dask", "host": "x:1"},
  {"name": "Good", "type": "dask", "host": "127.0.0.1:9999"}
]
"""


def test_import_json_reports_every_bad_entry_with_its_line_and_saves_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(BAD_JSON)
    error = str(fails("import", str(path)))
    assert "3 of 4 entries are not valid" in error
    assert f"{path}:3: entry 2 ('Bad port'):" in error and "70000" in error
    assert f"{path}:10: entry 3:" in error and "missing 'name'" in error
    # A second entry with the same name and other settings conflicts with the first.
    assert f"{path}:11: entry 4 ('Good'):" in error and "already exists" in error
    assert not Scheduler.objects.exists()


def test_import_reports_syntax_errors_with_their_line(tmp_path: Path) -> None:
    broken_json = tmp_path / "broken.json"
    broken_json.write_text('[\n  {"name": "A",\n  "type": }\n]\n')
    assert f"{broken_json}:3: not valid JSON" in str(fails("import", str(broken_json)))
    broken_yaml = tmp_path / "broken.yml"
    broken_yaml.write_text("schedulers:\n  - name: [unclosed\n")
    assert f"{broken_yaml}:3: not valid YAML" in str(fails("import", str(broken_yaml)))
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text('{"name": "A"}')
    assert "expected a list of schedulers" in str(fails("import", str(wrong_shape)))
    assert "Cannot read" in str(fails("import", str(tmp_path / "missing.json")))


def test_import_dry_run_validates_without_saving(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('[{"name": "D", "type": "dask", "host": "127.0.0.1:8786"}]')
    assert "Would create 1 scheduler(s)" in run("import", str(path), "--dry-run")
    assert not Scheduler.objects.exists()


def test_unknown_action_and_missing_action_are_errors() -> None:
    assert "invalid choice" in str(fails("frobnicate"))
    with pytest.raises(CommandError):
        run()


# ----------------------------------------------------------------------
# As a real process: exit statuses and the password prompt
# ----------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def command_env() -> dict[str, str]:
    """Environment for a ``django-admin`` process that uses this test's database."""
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings")
    if db["ENGINE"].endswith("sqlite3"):
        env["TETHYS_TEST_SQLITE_FILE"] = str(db["NAME"])
    else:
        env["PGDATABASE"] = str(db["NAME"])
    return env


def django_admin(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", "schedulers", *args]


@pytest.mark.django_db(transaction=True)
def test_command_exits_non_zero_with_the_message_on_stderr() -> None:
    DaskScheduler.objects.create(name="Down", host=f"tcp://127.0.0.1:{closed_port()}", timeout=2)
    done = subprocess.run(
        django_admin("test"), env=command_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "Down" in done.stdout and "FAILED" in done.stdout
    assert "CommandError: 1 of 1 scheduler(s) failed: Down." in done.stderr
    done = subprocess.run(
        django_admin("show", "Nobody"),
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "No scheduler named 'Nobody'" in done.stderr


@pytest.mark.django_db(transaction=True)
def test_create_condor_prompts_for_the_password_in_a_terminal() -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        django_admin("create-condor", "Prompted", "127.0.0.1", "--username", "u"),
        env=command_env(),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    seen = read_until(leader, b"SSH password for u@127.0.0.1: ", process)
    os.write(leader, SECRET.encode() + b"\n")
    seen += read_until(leader, b"is created.", process)
    assert process.wait(timeout=60) == 0, seen.decode(errors="replace")
    os.close(leader)
    assert SECRET.encode() not in seen  # not echoed
    assert CondorScheduler.objects.get(name="Prompted").password == SECRET


def read_until(
    fd: int, marker: bytes, process: subprocess.Popen[bytes], limit: float = 60
) -> bytes:
    """Read a pty until ``marker`` appears (bounded in time)."""
    seen = b""
    deadline = time.monotonic() + limit
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            process.kill()
            raise AssertionError(f"{marker!r} never came; the process wrote {seen!r}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the process closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"{marker!r} never came; the process wrote {seen!r}")
            seen += chunk
    return seen


def test_create_says_whether_it_created_or_found_the_scheduler() -> None:
    out = io.StringIO()
    call_command("schedulers", "create-dask", "twice", "localhost:8786", stdout=out)
    call_command("schedulers", "create-dask", "twice", "localhost:8786", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("is created.")
    assert lines[1].endswith("already exists with these settings; nothing changed.")


def test_remove_refuses_a_scheduler_with_active_jobs_with_a_clear_error() -> None:
    from tests.jobs.factories import bulk_create_jobs

    dask = DaskScheduler.objects.create(name="Busy", host="localhost:8786")
    bulk_create_jobs(3, dask=dask, condor=None, status="RUN", label="busy")  # third is Dask
    with pytest.raises(CommandError) as info:
        call_command("schedulers", "remove", "Busy", "--yes")
    assert str(info.value).startswith("Not removed:")
    assert DaskScheduler.objects.filter(name="Busy").exists()


def test_remove_says_which_jobs_had_not_run_on_the_scheduler() -> None:
    from tests.jobs.factories import bulk_create_jobs

    dask = DaskScheduler.objects.create(name="Quiet", host="localhost:8786")
    ids = bulk_create_jobs(3, dask=dask, condor=None, status="PEN", label="later")
    out = io.StringIO()
    call_command("schedulers", "remove", "Quiet", "--yes", stdout=out)
    text = out.getvalue()
    assert "Removed Dask scheduler 'Quiet'." in text
    assert "1 job(s) of it had not run" in text and str(ids[2]) in text  # the Dask one


# ----------------------------------------------------------------------
# Import: small inputs that would cost a lot
# ----------------------------------------------------------------------
ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
schedulers:
  - name: bomb
    type: dask
    host: *h
"""


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        ("bomb.yaml", ALIAS_BOMB, 2, "aliases"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, 1, "nest deeper than 32"),
        (
            "deep-late.json",
            '{"schedulers": [\n\n' + "[" * 5000 + "]" * 5000 + "]}",
            3,
            "nest deeper than 32",
        ),
        ("deep.yaml", "schedulers:\n  - " + "[" * 50_000 + "]" * 50_000 + "\n", 2, "nest"),
        (
            "merge.yaml",
            "base: {type: dask}\nschedulers:\n  - <<: {host: 'x:1'}\n    name: m\n",
            3,
            "merge keys",
        ),
        (
            "twice.yaml",
            "schedulers:\n  - {name: a, type: dask, host: 'h:1'}\n"
            "schedulers:\n  - {name: b, type: dask, host: 'h:2'}\n",
            3,
            "appears twice",
        ),
    ],
)
def test_import_refuses_costly_documents_with_a_short_message_naming_the_line(
    tmp_path: Path, name: str, text: str, line: int, words: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    started = time.monotonic()
    error = fails("import", str(path))
    assert time.monotonic() - started < 10
    message = str(error)
    assert words in message and len(message) < 600, message[:300]
    if line:
        assert f"{path}:{line}:" in message
    assert Scheduler.objects.count() == 0


def test_import_caps_file_size_and_each_message(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"schedulers": []}' + " " * 1_000_001)
    assert "larger than 1000000 bytes" in str(fails("import", str(big)))
    long_name = tmp_path / "long.json"
    entries = [{"name": "n" * 9_000, "type": "dask", "host": "h" * 9_000 + ":1"}] * 50
    long_name.write_text(json.dumps(entries))
    message = str(fails("import", str(long_name)))
    assert "50 of 50 entries are not valid" in message and "... and 30 more." in message
    assert len(message) < 21 * 700
