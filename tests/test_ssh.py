"""The SSH layer against a real OpenSSH server on loopback (``tests.fixtures.sshd``).

Nothing here is mocked: every test logs in to the fixture's sshd as its test
account.  Framing and quoting tests run through both session loops (python3
and the POSIX sh fallback).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from tests.fixtures.sshd import SSHD
from tethys_compute import ssh
from tethys_compute.exceptions import (
    HostKeyMismatchError,
    RemoteCommandError,
    RemoteCommandNotFoundError,
    RemoteFileError,
    SchedulerConnectionError,
    SSHAuthenticationError,
    SSHConnectionRefusedError,
    SSHKeyError,
    SSHTimeoutError,
    SSHUnreachableError,
    UnknownHostKeyError,
)
from tethys_compute.health import HealthResult
from tethys_compute.models import CondorScheduler
from tethys_compute.remote import RemoteHost
from tethys_compute.ssh import SSHHost, SSHTarget, connect, pool, session

pytestmark = pytest.mark.sshd

DRIVERS = ["auto", "sh"]


@pytest.fixture(autouse=True)
def _fresh_connections() -> Iterator[None]:
    ssh.close_connections()
    yield
    ssh.close_connections()


@pytest.fixture
def server(sshd_running: SSHD) -> SSHD:
    return sshd_running


def make_target(server: SSHD, **overrides: Any) -> SSHTarget:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "known_hosts": str(server.known_hosts),
        "label": "test-condor",
    }
    values.update(overrides)
    return SSHTarget(**values)


@pytest.fixture(params=DRIVERS)
def host(request: pytest.FixtureRequest, server: SSHD) -> SSHHost:
    """A password-authenticated host, once per session loop."""
    return SSHHost(make_target(server, driver=request.param))


def secrets_of(server: SSHD) -> list[str]:
    return [server.password, server.key_passphrase]


def assert_names_target_without_secrets(
    exc: BaseException, server: SSHD, port: int = 0, host: str = ""
) -> None:
    message = str(exc)
    assert f"{host or server.host}:{port or server.port}" in message
    for secret in secrets_of(server):
        assert secret not in message
        assert secret not in repr(exc)


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# ---------------------------------------------------------------------------
# Logging in
# ---------------------------------------------------------------------------
def test_password_login_runs_a_command(server: SSHD) -> None:
    host = SSHHost(make_target(server))
    assert isinstance(host, RemoteHost)
    result = host.run(["id", "-un"])
    assert result.ok
    assert result.stdout == f"{server.username}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa", "ed25519_pass", "rsa_pem_pass"])
def test_key_login_with_every_key_type(server: SSHD, key: str) -> None:
    target = make_target(
        server,
        password=None,
        private_key_path=str(server.keys[key]),
        private_key_pass=server.key_passphrase if key.endswith("_pass") else None,
    )
    assert SSHHost(target).run(["id", "-un"]).stdout == f"{server.username}\n"
    assert pool.connection_for(target).auth_method.endswith(
        connect.load_private_key(target).fingerprint
    )


@pytest.mark.django_db
def test_key_text_from_the_record_is_decrypted_and_used(server: SSHD) -> None:
    scheduler = CondorScheduler.objects.create(
        name="key-text",
        host=server.host,
        port=server.port,
        username=server.username,
        private_key=server.keys["ed25519_pass"].read_text(),
        private_key_pass=server.key_passphrase,
        host_key=server.host_key_line,
    )
    scheduler = CondorScheduler.objects.get(pk=scheduler.pk)
    host = ssh.get_remote_host(scheduler)
    assert host.run(["id", "-un"]).stdout == f"{server.username}\n"
    assert "key-text" in host.label and str(server.port) in host.label
    assert server.key_passphrase not in repr(host.target)
    assert "PRIVATE KEY" not in repr(host.target)


def test_unknown_driver_is_rejected(server: SSHD) -> None:
    with pytest.raises(ValueError, match="driver"):
        make_target(server, driver="perl")


def test_target_repr_and_str_hide_secrets(server: SSHD) -> None:
    target = make_target(server, private_key="-----BEGIN x", private_key_pass="pp-secret")
    for text in (repr(target), str(target), repr(SSHHost(target))):
        assert server.password not in text
        assert "pp-secret" not in text and "BEGIN" not in text


def test_wrong_password_is_an_authentication_error(server: SSHD) -> None:
    with pytest.raises(SSHAuthenticationError) as info:
        SSHHost(make_target(server, password="wrong-" + server.password)).run(["true"])
    assert not isinstance(info.value, SSHKeyError)
    assert isinstance(info.value, ConnectionError)
    assert "test-condor" in str(info.value)
    assert "wrong-" not in str(info.value)
    assert_names_target_without_secrets(info.value, server)


def test_unauthorized_key_is_a_key_error(server: SSHD) -> None:
    target = make_target(server, password=None, private_key_path=str(server.unauthorized_key))
    with pytest.raises(SSHKeyError, match="rejected") as info:
        SSHHost(target).run(["true"])
    assert_names_target_without_secrets(info.value, server)


def test_wrong_passphrase_is_a_key_error(server: SSHD) -> None:
    target = make_target(
        server,
        password=None,
        private_key_path=str(server.keys["ed25519_pass"]),
        private_key_pass="not-" + server.key_passphrase,
    )
    with pytest.raises(SSHKeyError, match="passphrase") as info:
        SSHHost(target).run(["true"])
    assert "not-" not in str(info.value)
    assert_names_target_without_secrets(info.value, server)


def test_missing_passphrase_is_a_key_error(server: SSHD) -> None:
    target = make_target(server, password=None, private_key_path=str(server.keys["rsa_pem_pass"]))
    with pytest.raises(SSHKeyError, match="private_key_pass"):
        SSHHost(target).run(["true"])


def test_unreadable_key_file_is_a_key_error(server: SSHD, tmp_path: Path) -> None:
    target = make_target(server, password=None, private_key_path=str(tmp_path / "missing"))
    with pytest.raises(SSHKeyError, match="cannot read"):
        SSHHost(target).run(["true"])


def test_the_standin_comes_first_on_the_accounts_path(server: SSHD) -> None:
    found = SSHHost(make_target(server)).run(["sh", "-c", "command -v condor_q"])
    assert server.path_prepend, "tests.htcondor_standin.BIN_DIR was not found"
    assert found.stdout == f"{server.path_prepend[0]}/condor_q\n"


# ---------------------------------------------------------------------------
# Reaching the host
# ---------------------------------------------------------------------------
def test_unresolvable_host_is_unreachable(server: SSHD) -> None:
    target = make_target(server, host="no-such-host.invalid")
    with pytest.raises(SSHUnreachableError) as info:
        SSHHost(target).run(["true"])
    assert isinstance(info.value, SchedulerConnectionError)
    assert "test-condor" in str(info.value)
    assert_names_target_without_secrets(info.value, server, host="no-such-host.invalid")


def test_closed_port_is_connection_refused(server: SSHD) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SSHConnectionRefusedError) as info:
        SSHHost(make_target(server, port=port)).run(["true"])
    assert_names_target_without_secrets(info.value, server, port=port)


def test_silent_server_times_out(server: SSHD, settings: Any) -> None:
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SSH_BANNER_TIMEOUT": 1.5}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts at the TCP level, never says a word
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SSHTimeoutError) as info:
            SSHHost(make_target(server, port=port)).run(["true"])
    assert isinstance(info.value, TimeoutError)
    # One banner timeout, not one per connection attempt: a silent port stays silent.
    assert time.monotonic() - started < 2.9
    assert_names_target_without_secrets(info.value, server, port=port)


# ---------------------------------------------------------------------------
# Host keys
# ---------------------------------------------------------------------------
def other_ed25519_key(tmp_path: Path) -> str:
    path = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30
    )
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def test_unknown_host_key_is_rejected_with_how_to_trust_it(server: SSHD, tmp_path: Path) -> None:
    empty = server.write_known_hosts(tmp_path / "known_hosts", [])
    with pytest.raises(UnknownHostKeyError) as info:
        SSHHost(make_target(server, known_hosts=str(empty))).run(["true"])
    info_key = ssh.scan_host_key(server.host, server.port)
    message = str(info.value)
    assert info_key.fingerprint in message
    assert f"[127.0.0.1]:{server.port} {info_key.openssh}" in message
    assert str(empty) in message and "pinned host key" in message
    assert_names_target_without_secrets(info.value, server)


def test_changed_host_key_is_a_mismatch(server: SSHD, tmp_path: Path) -> None:
    other = other_ed25519_key(tmp_path)
    known = server.write_known_hosts(tmp_path / "kh", [f"[127.0.0.1]:{server.port} {other}"])
    with pytest.raises(HostKeyMismatchError) as info:
        SSHHost(make_target(server, known_hosts=str(known))).run(["true"])
    offered = ssh.scan_host_key(server.host, server.port)
    assert offered.fingerprint in str(info.value)
    assert "HOST KEY CHANGED" in str(info.value)
    assert_names_target_without_secrets(info.value, server)


def test_known_hosts_entry_without_the_port_does_not_match(server: SSHD, tmp_path: Path) -> None:
    known = server.write_known_hosts(
        tmp_path / "kh", [f"127.0.0.1 {line}" for line in server.host_keys.values()]
    )
    with pytest.raises(UnknownHostKeyError, match=rf"\[127\.0\.0\.1\]:{server.port}"):
        SSHHost(make_target(server, known_hosts=str(known))).run(["true"])


def test_hashed_known_hosts_entry_with_port_matches(server: SSHD, tmp_path: Path) -> None:
    name = paramiko.HostKeys.hash_host(f"[127.0.0.1]:{server.port}")
    known = server.write_known_hosts(tmp_path / "kh", [f"{name} {server.host_keys['rsa']}"])
    host = SSHHost(make_target(server, known_hosts=str(known)))
    assert host.run(["true"]).ok
    assert "known_hosts" in pool.connection_for(host.target).host_key_status


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_pinned_host_key_is_the_only_key_accepted(
    server: SSHD, tmp_path: Path, key_type: str
) -> None:
    empty = str(server.write_known_hosts(tmp_path / "kh", []))
    pinned = make_target(server, known_hosts=empty, host_key=server.host_keys[key_type])
    assert SSHHost(pinned).run(["true"]).ok
    assert "pinned" in pool.connection_for(pinned).host_key_status
    wrong = make_target(server, host_key=other_ed25519_key(tmp_path))  # known_hosts would pass
    with pytest.raises(HostKeyMismatchError, match="pinned") as info:
        SSHHost(wrong).run(["true"])
    assert_names_target_without_secrets(info.value, server)


@pytest.mark.django_db
def test_trust_on_first_use_is_off_by_default(server: SSHD, tmp_path: Path, settings: Any) -> None:
    empty = str(server.write_known_hosts(tmp_path / "kh", []))
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SSH_KNOWN_HOSTS": empty}
    scheduler = CondorScheduler.objects.create(
        name="tofu-off",
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
    )
    with pytest.raises(UnknownHostKeyError):
        ssh.get_remote_host(scheduler).run(["true"])
    scheduler.refresh_from_db()
    assert scheduler.host_key == ""


@pytest.mark.django_db
def test_trust_on_first_use_pins_the_key_on_the_record(
    server: SSHD, tmp_path: Path, settings: Any
) -> None:
    empty = str(server.write_known_hosts(tmp_path / "kh", []))
    settings.TETHYS_COMPUTE = {
        **settings.TETHYS_COMPUTE,
        "SSH_KNOWN_HOSTS": empty,
        "SSH_TRUST_ON_FIRST_USE": True,
    }
    scheduler = CondorScheduler.objects.create(
        name="tofu-on",
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
    )
    assert ssh.get_remote_host(scheduler).run(["true"]).ok
    scheduler.refresh_from_db()
    assert scheduler.host_key == server.host_keys["ed25519"]
    # From now on only that key is accepted, whatever the setting says.
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SSH_TRUST_ON_FIRST_USE": False}
    ssh.close_connections()
    host = ssh.get_remote_host(scheduler)
    assert host.run(["true"]).ok
    assert "pinned" in pool.connection_for(host.target).host_key_status


def test_scan_host_key_matches_ssh_keygen(server: SSHD) -> None:
    info = ssh.scan_host_key(server.host, server.port, timeout=5)
    pub = server.workdir / "host_ed25519.pub"
    keygen = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True, check=True
    )
    assert info.fingerprint == keygen.stdout.split()[1]
    assert info.openssh == server.host_keys["ed25519"]
    assert info.known_hosts_line == f"[127.0.0.1]:{server.port} {server.host_keys['ed25519']}"


# ---------------------------------------------------------------------------
# Commands: exit codes, framing, quoting, state
# ---------------------------------------------------------------------------
def test_stdout_stderr_and_exit_status_are_kept_apart(host: SSHHost) -> None:
    result = host.run(["sh", "-c", "printf out; printf 'err\\n' >&2; printf more; exit 7"])
    assert (result.exit_status, result.stdout, result.stderr) == (7, "outmore", "err\n")
    assert not result.ok


def test_command_not_found_is_127_and_check_raises(host: SSHHost, server: SSHD) -> None:
    result = host.run(["no-such-command-tethys"])
    assert result.exit_status == 127
    with pytest.raises(RemoteCommandNotFoundError) as info:
        host.check(["no-such-command-tethys"])
    assert "no-such-command-tethys" in str(info.value)
    assert_names_target_without_secrets(info.value, server)
    with pytest.raises(RemoteCommandError, match="exit status 3") as failed:
        host.run(["sh", "-c", "echo boom >&2; exit 3"], check=True)
    assert not isinstance(failed.value, RemoteCommandNotFoundError)
    assert "boom" in str(failed.value)


def test_binary_output_arrives_byte_for_byte(host: SSHHost) -> None:
    result = host.run(["printf", "\\000\\001\\377\\n\\r\\000end"])
    assert result.stdout_bytes == b"\x00\x01\xff\n\r\x00end"
    assert result.stdout == "\x00\x01\ufffd\n\r\x00end"


def test_output_that_contains_the_markers_cannot_confuse_framing(
    host: SSHHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = "TETHYS-" + "ab" * 16
    monkeypatch.setattr(session, "new_marker", lambda: marker)
    fake = f"{marker} 0\n0 o\n0 e\n0 total\n{marker}\n"
    result = host.run(["printf", "%s", fake + fake])
    assert result.stdout == fake + fake
    result = host.run(["sh", "-c", 'printf "%s" "$1" >&2; exit 4', "sh", fake])
    assert (result.exit_status, result.stdout, result.stderr) == (4, "", fake)


def test_large_output_is_complete(host: SSHHost) -> None:
    size = 5_000_000
    result = host.run(
        ["sh", "-c", f"yes 0123456789abcdef | head -c {size}; yes e | head -c 1000 >&2"]
    )
    assert len(result.stdout_bytes) == size
    assert result.stdout_bytes[:17] == b"0123456789abcdef\n"
    assert result.stderr == "e\n" * 500


def test_stdin_small_binary_and_large(host: SSHHost) -> None:
    assert host.run(["cat"], stdin="text with 'quotes' and $VARS\n").stdout == (
        "text with 'quotes' and $VARS\n"
    )
    every_byte = bytes(range(256)) * 2
    assert host.run(["cat"], stdin=every_byte).stdout_bytes == every_byte
    large = os.urandom(300_000)
    assert host.run(["cat"], stdin=large).stdout_bytes == large
    assert host.run(["cat"]).stdout == ""  # no stdin: /dev/null, never the session's input


ARGS = [
    "two words",
    "it's",
    '"double"',
    "$(id)",
    "`id`",
    "; rm -rf ~ ;",
    "new\nline",
    "*",
    "~",
    "$HOME",
    "back\\slash",
    "",
    "-n",
    "tab\tand  spaces",
    "unicode é ✓",
    "'\"'\"'",
    "a\n\nb\n",
]


def test_every_argument_arrives_literally(host: SSHHost) -> None:
    result = host.run(["printf", "%s\\000", *ARGS])
    assert result.stdout.split("\0")[:-1] == ARGS


def test_env_values_and_cwd_arrive_literally(host: SSHHost) -> None:
    workdir = host.make_temp_dir()
    try:
        odd = f"{workdir}/dir with 'quotes' $(x) and\nnewline"
        assert host.run(["mkdir", odd]).ok
        assert host.run(["pwd"], cwd=odd).stdout == odd + "\n"
        result = host.run(["sh", "-c", 'printf "%s" "$TETHYS_X"'], env={"TETHYS_X": ARGS[5]})
        assert result.stdout == ARGS[5]
    finally:
        host.remove_tree(workdir)
    assert host.run(["pwd"], cwd="/no/such/dir").exit_status != 0
    with pytest.raises(ValueError, match="environment variable"):
        host.run(["true"], env={"BAD NAME": "x"})
    with pytest.raises(TypeError):
        host.run("echo hi")  # type: ignore[arg-type]


def test_no_state_leaks_between_commands(host: SSHHost, server: SSHD) -> None:
    home = host.run(["pwd"]).stdout
    result = host.run_shell("cd /tmp && export TETHYS_LEAK=1 && TETHYS_VAR=2 && umask 077 && pwd")
    assert result.stdout == "/tmp\n"
    assert host.run(["pwd"]).stdout == home == f"{server.home}\n"
    result = host.run_shell('echo "${TETHYS_LEAK:-unset} ${TETHYS_VAR:-unset}"; umask')
    assert result.stdout.splitlines()[0] == "unset unset"
    assert result.stdout.splitlines()[1] != "0077"


def test_command_timeout_kills_the_command_and_the_session_recovers(
    host: SSHHost, server: SSHD
) -> None:
    tag = f"tethys-timeout-{os.getpid()}-{host.target.driver}"
    started = time.monotonic()
    with pytest.raises(SSHTimeoutError) as info:
        host.run(["sh", "-c", f"sleep 30; echo {tag}"], timeout=1)
    assert time.monotonic() - started < 8
    assert "sh" in str(info.value)
    assert_names_target_without_secrets(info.value, server)
    assert host.run(["echo", "after"]).stdout == "after\n"
    ps = subprocess.run(
        ["ps", "-u", server.username, "-o", "args="], capture_output=True, text=True
    )
    assert wait_for(
        lambda: (
            tag
            not in subprocess.run(
                ["ps", "-u", server.username, "-o", "args="], capture_output=True, text=True
            ).stdout
        )
    ), ps.stdout


def test_eight_threads_share_the_connection(host: SSHHost, server: SSHD) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                word = f"t{n}-{i}-{'x' * (n * 100)}"
                script = 'printf "%s" "$1"; printf "%s" "$1" >&2'
                result = host.run(["sh", "-c", script, "sh", word])
                assert (result.stdout, result.stderr) == (word, word)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a worker thread is still running"
    assert not errors, errors[0]
    assert server.client_connections() == 1


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
def test_files_go_both_ways_over_sftp(host: SSHHost, tmp_path: Path) -> None:
    workdir = host.make_temp_dir(prefix="files-")
    assert host.is_dir(workdir)
    try:
        data = os.urandom(100_000)
        host.put_bytes(data, f"{workdir}/blob.bin")
        local = tmp_path / "in.txt"
        local.write_text("hello\n")
        host.put_file(str(local), f"{workdir}/in.txt")
        assert host.list_dir(workdir) == ["blob.bin", "in.txt"]
        host.get_file(f"{workdir}/blob.bin", str(tmp_path / "back.bin"))
        assert (tmp_path / "back.bin").read_bytes() == data
        assert host.run(["cat", "in.txt"], cwd=workdir).stdout == "hello\n"
        with pytest.raises(RemoteFileError) as info:
            host.get_file(f"{workdir}/missing", str(tmp_path / "x"))
        assert info.value.errno == errno.ENOENT
        assert isinstance(info.value, OSError)
    finally:
        host.remove_tree(workdir)
    assert not host.is_dir(workdir)
    for bad in ("/", "relative/path", ""):
        with pytest.raises(ValueError):
            host.remove_tree(bad)


# ---------------------------------------------------------------------------
# Connections: reuse, drops, cleanup
# ---------------------------------------------------------------------------
def test_reconnects_after_sshd_restart(server: SSHD) -> None:
    host = SSHHost(make_target(server))
    assert host.run(["echo", "one"]).stdout == "one\n"
    server.restart()
    assert host.run(["echo", "two"]).stdout == "two\n"
    server.stop()
    with pytest.raises(SSHConnectionRefusedError):
        host.run(["true"])
    server.start()
    assert host.run(["echo", "three"]).stdout == "three\n"
    assert server.client_connections() == 1


def test_reconnects_after_the_transport_drops(server: SSHD) -> None:
    host = SSHHost(make_target(server, driver="sh"))
    assert host.run(["true"]).ok
    conn = pool.connection_for(host.target)
    assert conn.transport is not None
    conn.transport.close()
    assert host.run(["echo", "again"]).stdout == "again\n"
    assert conn.transport is not None and conn.transport.is_active()


def test_a_dead_session_is_replaced(host: SSHHost) -> None:
    assert host.run(["true"]).ok
    conn = pool.connection_for(host.target)
    (idle,) = conn._idle
    os.kill(idle.pid, signal.SIGKILL)  # the remote loop dies; the connection stays up
    assert wait_for(lambda: not idle.usable)
    assert host.run(["echo", "fresh"]).stdout == "fresh\n"
    assert conn._idle and conn._idle[0] is not idle


def test_thousand_operations_keep_connections_threads_and_cwd_flat(
    server: SSHD, tmp_path: Path
) -> None:
    cwd = os.getcwd()
    host = SSHHost(make_target(server))
    workdir = host.make_temp_dir()
    host.run(["true"])
    connections, threads = server.client_connections(), threading.active_count()
    assert connections == 1
    for i in range(1000):
        if i % 100 == 0:
            host.put_bytes(b"x", f"{workdir}/f{i}")
            assert f"f{i}" in host.list_dir(workdir)
        elif i % 2:
            assert host.run(["true"], cwd=workdir).ok
        else:
            # A new SSHHost for the same target reuses the cached connection.
            assert SSHHost(make_target(server)).run(["echo", str(i)]).stdout == f"{i}\n"
        assert os.getcwd() == cwd
    host.remove_tree(workdir)
    assert server.client_connections() == connections
    assert threading.active_count() == threads


@pytest.mark.django_db
def test_saving_or_deleting_the_record_closes_its_connection(server: SSHD) -> None:
    scheduler = CondorScheduler.objects.create(
        name="closing",
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        host_key=server.host_key_line,
    )
    assert ssh.get_remote_host(scheduler).run(["true"]).ok
    assert server.client_connections() == 1
    scheduler.description = "changed"
    scheduler.save()
    assert wait_for(lambda: server.client_connections() == 0)
    assert ssh.get_remote_host(scheduler).run(["true"]).ok
    assert server.client_connections() == 1
    scheduler.delete()
    assert wait_for(lambda: server.client_connections() == 0)


def test_changed_credentials_do_not_reuse_the_connection(server: SSHD) -> None:
    assert SSHHost(make_target(server)).run(["true"]).ok
    with pytest.raises(SSHAuthenticationError):
        SSHHost(make_target(server, password="changed")).run(["true"])
    assert server.client_connections() == 1


# ---------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------
def test_test_ssh_reports_every_step(server: SSHD) -> None:
    result = ssh.test_ssh(make_target(server))
    assert result.ok, result.summary
    names = [check.name for check in result.checks]
    assert names == [
        "TCP reachable",
        "SSH handshake",
        "host key",
        "authenticated",
        "command runs",
    ]
    assert result.latency_ms is not None and result.latency_ms < 100
    assert "OpenSSH" in result.versions["ssh_server"]


def test_test_ssh_names_the_failing_step(server: SSHD, tmp_path: Path) -> None:
    empty = str(server.write_known_hosts(tmp_path / "kh", []))
    result = ssh.test_ssh(make_target(server, known_hosts=empty))
    assert not result.ok and result.checks[-1].name == "host key"
    result = ssh.test_ssh(make_target(server, password="wrong"))
    assert result.checks[-1].name == "authenticated" and not result.checks[-1].ok
    assert server.password not in str(result.as_dict())
    health = HealthResult(target="x")
    assert ssh.ssh_health(make_target(server, host="no-such-host.invalid"), health) is None
    assert health.checks[-1].name == "TCP reachable"


def test_a_plain_target_stores_a_first_use_key_only_through_its_callback(
    server: SSHD, tmp_path: Path, settings: Any
) -> None:
    # The SSH layer knows no record: trust on first use hands the key to the
    # target's pin_host_key callback, and close_owner closes by the owner name.
    empty = str(server.write_known_hosts(tmp_path / "kh", []))
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "SSH_TRUST_ON_FIRST_USE": True}
    pinned: list[str] = []
    target = make_target(server, known_hosts=empty, owner="app:1", pin_host_key=pinned.append)
    host = ssh.get_remote_host(target)
    assert host.run(["true"]).ok
    assert pinned == [server.host_keys["ed25519"]]
    assert "pinned" in pool.connection_for(target).host_key_status
    assert ssh.close_owner("app:2") == 0
    assert ssh.close_owner("app:1") == 1
    assert wait_for(lambda: server.client_connections() == 0)
    unpinned = make_target(server, known_hosts=empty, label="no-callback")
    assert ssh.get_remote_host(unpinned).run(["true"]).ok
    assert "not stored" in pool.connection_for(unpinned).host_key_status
    ssh.close_connections()


@pytest.mark.django_db
def test_the_record_builds_its_target_and_the_old_name_still_works(server: SSHD) -> None:
    scheduler = CondorScheduler.objects.create(
        name="built", host=server.host, port=server.port, username=server.username, password="pw"
    )
    target = scheduler.ssh_target()
    assert (target.host, target.port, target.password, target.label) == (
        server.host,
        server.port,
        "pw",
        "built",
    )
    assert target.owner == f"condor-scheduler:{scheduler.pk}"
    assert target.pin_host_key is not None
    assert SSHTarget.from_scheduler(scheduler) == target
    assert ssh.get_remote_host(scheduler).target == target
