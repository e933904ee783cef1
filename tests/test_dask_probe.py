"""The Dask probe against a fake scheduler: nothing it answers is ever unpickled.

The fake is a real ``distributed`` comm listener on 127.0.0.1 (its own event
loop thread) that does the comm handshake and then answers every request with
a message built by a test.  The hostile answers carry a pickled object whose
unpickling would create a marker file; the marker must never appear.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed.comm import CommClosedError, listen
from distributed.protocol.serialize import ToPickle
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.jobs.factories import bulk_create_jobs
from tethys_compute import dask_client
from tethys_compute.exceptions import SchedulerConnectionError
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job

Reply = Callable[[Any], Any]


class Boom:
    """Unpickling this creates ``path`` (proof that code ran in the portal)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


class FakeScheduler:
    """A distributed comm listener on loopback that answers with ``reply(request)``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.listener: Any = None
        self.address = ""

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    async def _start(self) -> None:
        self.listener = listen("tcp://127.0.0.1:0", self._handle, deserialize=False)
        await self.listener.start()
        self.address = self.listener.contact_address

    async def _handle(self, comm: Any) -> None:
        try:
            for _ in range(10):  # bounded: a probe asks at most a few questions
                request = await comm.read()
                self.requests.append(request)
                await comm.write(self.reply(request))
        except (CommClosedError, OSError):
            pass
        finally:
            comm.abort()

    def stop(self) -> None:
        async def close() -> None:
            self.listener.stop()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "code-ran-in-the-portal"


@pytest.fixture
def fake_scheduler() -> Iterator[Callable[[Reply], FakeScheduler]]:
    started: list[FakeScheduler] = []

    def start(reply: Reply) -> FakeScheduler:
        fake = FakeScheduler(reply)
        fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def identity(workers: Any) -> dict[str, Any]:
    return {
        "type": "Scheduler",
        "id": "Scheduler-fake",
        "address": "tcp://127.0.0.1:1",
        "services": {},
        "workers": workers,
    }


HOSTILE_REPLIES: dict[str, Callable[[Path], Reply]] = {
    "whole reply pickled": lambda m: lambda req: ToPickle(Boom(m)),
    "pickle beside the fields": lambda m: lambda req: {**identity({}), "extra": ToPickle(Boom(m))},
    "pickle as a worker": lambda m: lambda req: identity({"tcp://w:1": ToPickle(Boom(m))}),
}


@pytest.mark.parametrize("shape", list(HOSTILE_REPLIES))
def test_test_connection_never_unpickles_a_fake_schedulers_reply(
    fake_scheduler: Callable[[Reply], FakeScheduler], marker: Path, shape: str
) -> None:
    fake = fake_scheduler(HOSTILE_REPLIES[shape](marker))
    result = dask_client.check_scheduler(fake.address, label="Fake", timeout=5)
    assert not marker.exists(), "the fake scheduler's pickle ran in the portal"
    assert fake.requests, "the probe never asked"
    assert not result.ok
    failed = [c for c in result.checks if not c.ok]
    assert failed[0].name == "connect"
    assert "not like a Dask scheduler" in failed[0].detail


@pytest.mark.parametrize("shape", list(HOSTILE_REPLIES))
def test_scheduler_identity_never_unpickles(
    fake_scheduler: Callable[[Reply], FakeScheduler], marker: Path, shape: str
) -> None:
    fake = fake_scheduler(HOSTILE_REPLIES[shape](marker))
    with pytest.raises(SchedulerConnectionError, match="not like a Dask scheduler"):
        dask_client.scheduler_identity(fake.address, timeout=5, label="Fake")
    assert not marker.exists()


@pytest.mark.parametrize(
    "reply",
    [
        identity(["tcp://w:1"]),
        identity({"tcp://w:1": {"nthreads": "lots", "memory_limit": 1}}),
        {**identity({}), "services": ["dashboard"]},
        [1, 2, 3],
    ],
)
def test_a_reply_of_the_wrong_types_fails_the_test(
    fake_scheduler: Callable[[Reply], FakeScheduler], reply: Any
) -> None:
    fake = fake_scheduler(lambda req: reply)
    result = dask_client.check_scheduler(fake.address, label="Odd", timeout=5)
    assert not result.ok
    assert "not like a Dask scheduler" in result.summary


def test_a_plain_fake_identity_is_read_and_reported(
    fake_scheduler: Callable[[Reply], FakeScheduler],
) -> None:
    worker = {"nthreads": 3, "memory_limit": 2**30, "status": "running"}

    def reply(request: Any) -> Any:
        if request.get("op") == "identity":
            return identity({"tcp://127.0.0.1:9": worker})
        if request.get("op") == "broadcast":
            return {"tcp://127.0.0.1:9": {"packages": {"dask": "0.0.1"}}}
        return {"packages": {"dask": "0.0.1"}}

    fake = fake_scheduler(reply)
    result = dask_client.check_scheduler(fake.address, label="Plain", timeout=5)
    assert result.ok, result.summary
    assert result.details["n_workers"] == 1 and result.details["total_threads"] == 3
    assert any("dask versions differ" in w for w in result.warnings)
    # One comm answered every question: a test opens no client on the scheduler.
    assert [r["op"] for r in fake.requests] == ["identity", "versions", "broadcast"]


@pytest.mark.django_db
def test_admin_test_connection_of_a_fake_scheduler_runs_no_code(
    fake_scheduler: Callable[[Reply], FakeScheduler], marker: Path, client: Client
) -> None:
    fake = fake_scheduler(HOSTILE_REPLIES["pickle beside the fields"](marker))
    record = DaskScheduler.objects.create(name="Evil", host=fake.address, timeout=5)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    url = f"/admin/tethys_compute/daskscheduler/{record.pk}/test-connection/"
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert not marker.exists()
    assert "not like a Dask scheduler" in response.content.decode()
    assert DaskScheduler.objects.get(pk=record.pk).last_check_ok is False


# ----------------------------------------------------------------------
# No Dask client for admin users who could not have set the address
# ----------------------------------------------------------------------
def plain_scheduler(request: Any) -> Any:
    """Answers like a scheduler with no workers (a client would go on to register)."""
    if request.get("op") == "identity":
        return identity({})
    return {}


@pytest.fixture
def dask_job_setup(
    fake_scheduler: Callable[[Reply], FakeScheduler],
) -> tuple[FakeScheduler, DaskScheduler, int]:
    fake = fake_scheduler(plain_scheduler)
    record = DaskScheduler.objects.create(name="Fake", host=fake.address, timeout=2)
    [job_id] = [
        pk
        for pk in bulk_create_jobs(3, label="trust", dask=record, status=JobStatus.RUNNING)
        if DaskJob.objects.filter(pk=pk).exists()
    ]
    return fake, record, job_id


def staff_with(client: Client, *codenames: str) -> Client:
    user = User.objects.create_user("jobs-staff", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.urls("tests.jobs.urls")
def test_job_actions_connect_no_dask_client_for_users_who_cannot_set_addresses(
    dask_job_setup: tuple[FakeScheduler, DaskScheduler, int], client: Client
) -> None:
    fake, _record, job_id = dask_job_setup
    client = staff_with(client, "view_job", "change_job")
    for action in ("refresh_now", "stop_jobs", "resubmit_jobs"):
        response = client.post(
            "/admin/tethys_compute/job/",
            {"action": action, "_selected_action": [job_id]},
            follow=True,
        )
        assert response.status_code == 200
        assert "only users who may add or change Dask schedulers" in response.content.decode()
    for action in ("refresh", "stop"):
        response = client.post(f"/admin/tethys_compute/job/{job_id}/run/{action}/", follow=True)
        assert response.status_code == 200
        assert "only users who may add or change Dask schedulers" in response.content.decode()
    assert fake.requests == []  # the scheduler was never contacted
    assert dask_client.cached_clients() == []
    assert Job.objects.get(pk=job_id).status_code == JobStatus.RUNNING


@pytest.mark.django_db
@pytest.mark.urls("tests.jobs.urls")
def test_job_refresh_may_connect_for_users_who_may_change_dask_schedulers(
    dask_job_setup: tuple[FakeScheduler, DaskScheduler, int], client: Client
) -> None:
    fake, _record, job_id = dask_job_setup
    client = staff_with(client, "view_job", "change_job", "change_daskscheduler")
    try:
        response = client.post(f"/admin/tethys_compute/job/{job_id}/run/refresh/", follow=True)
        assert response.status_code == 200
        assert "only users who may add or change Dask schedulers" not in response.content.decode()
        assert fake.requests, "a trusted user's refresh did not reach the scheduler"
    finally:
        dask_client.close_clients()


# ----------------------------------------------------------------------
# Bounds: a service that is not Dask
# ----------------------------------------------------------------------
@pytest.fixture
def http_like_server() -> Iterator[str]:
    """A loopback service that answers every connection with an HTTP error page."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_a_service_that_is_not_dask_fails_fast_with_a_bounded_read(http_like_server: str) -> None:
    started = time.monotonic()
    result = dask_client.check_scheduler(http_like_server, label="Web", timeout=5)
    assert time.monotonic() - started < 2.0
    assert not result.ok
    detail = result.checks[-1].detail
    assert "not like a Dask scheduler" in detail and "announced a" in detail
