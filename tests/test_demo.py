"""``make demo`` (scripts/demo.py), run for real: one per clone, a password kept, its port.

Each run starts the example portal on a free loopback port with a real local
Dask cluster, in a data folder of its own (``PORTAL_DATA_DIR``).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.dask]

ROOT = Path(__file__).resolve().parents[1]
PORTAL = ROOT / "tests" / "example_portal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(data: Path) -> dict[str, str]:
    env = dict(os.environ, PORTAL_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    for name in ("PORTAL_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_ENCRYPTION_KEY_FILE"):
        env.pop(name, None)
    return env


class Demo:
    def __init__(self, data: Path, port: int, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", str(port), *extra],
            env=demo_env(data),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.queue: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line)

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        """The first line from now on matching ``pattern``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} in the demo's output:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.reader.join(timeout=10)  # the output ends with the process
        assert not self.reader.is_alive(), "the demo's output did not end"
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "demo"


def manage_py_callback_url(data: Path) -> str:
    """JOB_CALLBACK_BASE_URL as a command in a second terminal sees it."""
    done = subprocess.run(
        [
            sys.executable,
            str(PORTAL / "manage.py"),
            "shell",
            "-c",
            "from tethys_compute.conf import compute_settings as s; print(s.JOB_CALLBACK_BASE_URL)",
        ],
        env=demo_env(data),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_second_demo_refuses_and_the_password_is_kept_unless_reset(data: Path) -> None:
    port = free_port()
    first = Demo(data, port)
    try:
        password = first.wait_for(r"Password: (\S+)").group(1)
        first.wait_for(r"Refresher: compute_refresh --loop")
        refreshers = [
            child
            for child in psutil.Process(first.process.pid).children()
            if "compute_refresh" in " ".join(child.cmdline())
        ]
        assert len(refreshers) == 1  # statuses and results callbacks go on in the demo
        first.wait_for(r"clusters started")
        assert "from the admin keep running" in first.wait_for(r"from the admin").string
        # A second terminal's commands give jobs the demo's real address.
        assert manage_py_callback_url(data) == f"http://127.0.0.1:{port}"

        # A second demo from the same clone (data folder) refuses, touching nothing.
        second = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo.py"), "--port", str(free_port())],
            env=demo_env(data),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "Another `make demo` runs from this clone" in second.stdout
        assert f"pid {first.process.pid}" in second.stdout
        assert first.process.poll() is None
    finally:
        first.stop()
    assert not refreshers[0].is_running()  # stopped with the demo
    assert (data / "admin-password").stat().st_mode & 0o777 == 0o600

    again = Demo(data, free_port())
    try:
        assert again.wait_for(r"Password: (\S+)").group(1) == password  # kept
    finally:
        again.stop()
    reset = Demo(data, free_port(), "--reset-password")
    try:
        assert reset.wait_for(r"Password: (\S+)").group(1) != password
    finally:
        reset.stop()


def test_two_sigterms_in_a_row_still_clean_up(data: Path) -> None:
    # `make demo` stopped with `kill -- -PGID`: make and the demo both get SIGTERM,
    # and make may send it on once more while the demo is cleaning up.
    demo = Demo(data, free_port())
    try:
        demo.wait_for(r"clusters started")
        assert (data / "portal_url").exists()
        demo.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        demo.process.send_signal(signal.SIGTERM)
        demo.wait_for(r"Demo stopped: portal and Dask processes ended", timeout=60)
        assert demo.process.wait(timeout=30) == 0
        assert not (data / "portal_url").exists()
    finally:
        demo.stop()
