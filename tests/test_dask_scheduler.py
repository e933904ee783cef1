"""DaskScheduler against real ``dask scheduler``/``dask worker`` processes on 127.0.0.1.

No mocks of ``distributed``.  Functions sent to workers come from the
standard library (``operator``, ``time``); the one sent to the scheduler is
pickled by value, so the dask processes never import this module.
"""

from __future__ import annotations

import asyncio
import operator
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import cloudpickle
import psutil
import pytest
from distributed.client import FutureCancelledError

from tethys_compute import dask_client
from tethys_compute.dask_processes import LocalDaskCluster, start_scheduler, start_worker
from tethys_compute.exceptions import (
    ConfigurationError,
    InvalidArgumentError,
    SchedulerConnectionError,
    SchedulerTimeoutError,
    SchedulerValidationError,
)
from tethys_compute.models import DaskScheduler
from tethys_compute.scheduler_manager import create_dask_scheduler, get_scheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db]

# Functions of this module sent to the scheduler travel by value: the
# scheduler must not import this module (it needs Django set up).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def scheduler_connections(pid: int, port: int) -> int:
    """Established TCP connections the scheduler process has on its listening port."""
    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def io_loop_threads() -> int:
    """Event loop threads: ours, and any ``distributed`` would start per client."""
    names = ("IO loop", dask_client.LOOP_THREAD_NAME)
    return sum(1 for t in threading.enumerate() if t.name in names)


def count_real_clients(dask_scheduler: Any) -> int:  # runs on the scheduler
    return sum(1 for name in dask_scheduler.clients if name != "fire-and-forget")


# ----------------------------------------------------------------------
# Work through the record, and reuse
# ----------------------------------------------------------------------
def test_submit_and_gather_through_the_record(tethys_dask_scheduler: DaskScheduler) -> None:
    client = get_scheduler("Default").client
    assert client.submit(operator.add, 1, 2).result(timeout=10) == 3
    assert client.gather(client.map(operator.neg, range(5))) == [0, -1, -2, -3, -4]


def test_cached_client_is_reused_without_a_new_connection(
    tethys_dask_scheduler: DaskScheduler, tethys_dask_cluster: LocalDaskCluster
) -> None:
    first = get_scheduler("Default").client
    assert first.submit(operator.mul, 6, 7).result(timeout=10) == 42
    scheduler = tethys_dask_cluster.scheduler
    assert scheduler is not None
    port = port_of(tethys_dask_cluster.address)
    before = scheduler_connections(scheduler.pid, port)
    for _ in range(20):
        assert get_scheduler("Default").client is first
        assert tethys_dask_scheduler.client is first
    assert scheduler_connections(scheduler.pid, port) == before
    assert first.run_on_scheduler(count_real_clients) == 1


def test_records_with_the_same_settings_share_one_client(
    tethys_dask_scheduler: DaskScheduler,
) -> None:
    twin = create_dask_scheduler("Twin", tethys_dask_scheduler.host.replace("tcp://", ""))
    assert twin.client is tethys_dask_scheduler.client


def test_timeout_and_heartbeat_of_the_record_reach_the_client(
    tethys_dask_scheduler: DaskScheduler,
) -> None:
    slow = create_dask_scheduler(
        "Slow", tethys_dask_scheduler.host, timeout=7, heartbeat_interval=2500
    )
    client = slow.client
    assert client is not tethys_dask_scheduler.client  # other settings, other client
    assert client._timeout == 7
    assert client._periodic_callbacks["heartbeat"].callback_time == 2500
    assert slow.get_client(timeout=7, heartbeat_interval=2500) is client
    assert slow.get_client(timeout=8) is not client


def test_uncached_and_asynchronous_clients_belong_to_the_caller(
    tethys_dask_scheduler: DaskScheduler, silent_server: Any
) -> None:
    own = tethys_dask_scheduler.get_client(cached=False)
    try:
        assert own is not tethys_dask_scheduler.client
        assert own.submit(operator.add, 1, 1).result(timeout=10) == 2
    finally:
        own.close()
    assert tethys_dask_scheduler.client.status == "running"

    silent = create_dask_scheduler("SilentAsync", silent_server.address, timeout=1)

    async def use() -> int:
        client = await tethys_dask_scheduler.get_client(asynchronous=True)
        async with client:
            result: int = await client.submit(operator.add, 2, 3)
        started = time.monotonic()
        with pytest.raises(SchedulerTimeoutError):
            await silent.get_client(asynchronous=True)
        assert time.monotonic() - started < 2
        return result

    assert asyncio.run(use()) == 5


def test_two_threads_asking_at_once_get_one_client(
    tethys_dask_scheduler: DaskScheduler,
) -> None:
    dask_client.close_clients(tethys_dask_scheduler.host)
    barrier = threading.Barrier(2)
    got: list[Any] = []

    def ask() -> None:
        barrier.wait(timeout=5)
        got.append(tethys_dask_scheduler.client)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting"
    assert len(got) == 2 and got[0] is got[1]
    assert got[0].run_on_scheduler(count_real_clients) == 1


def test_fifty_request_threads_do_not_grow_threads_loops_or_connections(
    tethys_dask_scheduler: DaskScheduler, tethys_dask_cluster: LocalDaskCluster
) -> None:
    scheduler = tethys_dask_cluster.scheduler
    assert scheduler is not None
    port = port_of(tethys_dask_cluster.address)
    errors: list[BaseException] = []

    def request(i: int) -> None:
        try:
            future = tethys_dask_scheduler.client.submit(operator.add, i, 1)
            assert future.result(timeout=20) == i + 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def burst() -> None:
        threads = [threading.Thread(target=request, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads), "a request did not finish"

    burst()  # warm up: the client and its connection pool
    threads_after_first = threading.active_count()
    connections = []
    for _ in range(3):
        burst()
        connections.append(scheduler_connections(scheduler.pid, port))
    assert errors == []
    assert threading.active_count() <= threads_after_first
    assert io_loop_threads() == 1
    # One batched stream plus distributed's pooled RPC comms, which it caps
    # at 5 concurrent gathers: bounded, whatever the number of threads.
    assert max(connections) <= 8, connections
    assert tethys_dask_scheduler.client.run_on_scheduler(count_real_clients) == 1


# ----------------------------------------------------------------------
# Failures, all within the timeout
# ----------------------------------------------------------------------
def test_killed_scheduler_fails_loudly_within_the_timeout(
    private_dask_cluster: LocalDaskCluster,
) -> None:
    record = create_dask_scheduler("Doomed", private_dask_cluster.address, timeout=3)
    client = record.client
    held = client.submit(time.sleep, 30)
    process = private_dask_cluster.scheduler
    assert process is not None
    process.popen.kill()
    process.popen.wait(timeout=5)

    with pytest.raises(FutureCancelledError):
        held.result(timeout=5)  # distributed cancels it: loud, not silent
    assert wait_until(lambda: not dask_client.is_alive(client))
    started = time.monotonic()
    with pytest.raises(SchedulerConnectionError) as info:
        get_scheduler("Doomed").client.submit(operator.add, 1, 1).result(timeout=5)
    assert time.monotonic() - started < 3.0
    assert "'Doomed'" in str(info.value) and private_dask_cluster.address in str(info.value)


def test_port_that_accepts_but_never_answers_times_out_and_leaves_nothing(
    silent_server: Any, tethys_dask_scheduler: DaskScheduler
) -> None:
    tethys_dask_scheduler.client  # noqa: B018 - the shared loop thread exists already
    threads_before = threading.active_count()
    record = create_dask_scheduler("Silent", silent_server.address, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(SchedulerTimeoutError) as info:
        record.client  # noqa: B018
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 2.5
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, ConnectionError)
    assert "'Silent'" in str(info.value) and silent_server.address in str(info.value)
    assert threading.active_count() == threads_before
    # Our end of the connection was closed: the server reads end-of-file.
    assert silent_server.accepted
    for conn in silent_server.accepted:
        conn.settimeout(0.2)
        assert wait_until(lambda c=conn: _peer_closed(c), timeout=2)
    ours = [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == silent_server.port and c.status == psutil.CONN_ESTABLISHED
    ]
    assert ours == []


def _peer_closed(conn: socket.socket) -> bool:
    try:
        return conn.recv(1024 * 1024) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def test_refused_port_fails_at_once(refused_address: str) -> None:
    record = create_dask_scheduler("Nobody", refused_address, timeout=5)
    started = time.monotonic()
    with pytest.raises(SchedulerConnectionError) as info:
        record.client  # noqa: B018
    assert time.monotonic() - started < 1.0
    assert not isinstance(info.value, SchedulerTimeoutError)
    assert "'Nobody'" in str(info.value) and refused_address in str(info.value)


def test_a_remembered_failure_keeps_no_caller_alive(refused_address: str) -> None:
    """The cache remembers a failure without its traceback (whose frames hold callers' locals)."""
    import gc
    import weakref

    from tethys_compute.dask import cache

    class Held:
        pass

    def caller() -> weakref.ref[Held]:
        held = Held()  # a caller's local, such as the jobs a refresh asks about
        try:
            DaskScheduler(name="Gone", host=refused_address).client  # noqa: B018
        except SchedulerConnectionError:
            pass
        return weakref.ref(held)

    ref = caller()
    gc.collect()
    assert ref() is None
    remembered = [e.failure for e in cache._cache.values() if e.key.address == refused_address]
    assert remembered and all(f is not None and f.__traceback__ is None for f in remembered)


@pytest.mark.parametrize("host", ["http://127.0.0.1:8786", "127.0.0.1:99999", "not a host:8786"])
def test_malformed_address_is_rejected(host: str) -> None:
    with pytest.raises(SchedulerValidationError, match="host"):
        create_dask_scheduler("Bad", host)
    with pytest.raises(InvalidArgumentError):
        DaskScheduler(name="Unsaved", host=host).client  # noqa: B018


def test_empty_address_never_starts_a_local_cluster() -> None:
    with pytest.raises(InvalidArgumentError):
        dask_client.get_client("")
    assert io_loop_threads() <= 1


def test_tls_address_connects_with_the_certificate_settings(
    dask_tls_files: tuple[str, str, str], settings: Any
) -> None:
    ca_file, cert_file, key_file = dask_tls_files
    settings.TETHYS_COMPUTE = {
        **settings.TETHYS_COMPUTE,
        "DASK_TLS_CA_FILE": ca_file,
        "DASK_TLS_CERT_FILE": cert_file,
        "DASK_TLS_KEY_FILE": key_file,
    }
    with LocalDaskCluster(n_workers=1, dashboard=False, tls=dask_tls_files) as cluster:
        assert cluster.address.startswith("tls://127.0.0.1:")
        record = create_dask_scheduler("Secure", cluster.address)
        try:
            assert record.client.submit(operator.add, 1, 2).result(timeout=10) == 3
            assert record.test_connection().ok
        finally:
            dask_client.close_clients(cluster.address)


def test_tls_address_without_certificate_settings_says_which_setting() -> None:
    record = create_dask_scheduler("Unsure", "tls://127.0.0.1:8786")
    with pytest.raises(ConfigurationError, match="DASK_TLS_CA_FILE"):
        record.client  # noqa: B018


# ----------------------------------------------------------------------
# Replacement and closing
# ----------------------------------------------------------------------
def test_scheduler_restarted_on_the_same_port_gets_a_new_client(
    private_dask_cluster: LocalDaskCluster,
) -> None:
    address = private_dask_cluster.address
    record = create_dask_scheduler("Phoenix", address, timeout=3)
    old = record.client
    assert old.submit(operator.add, 2, 2).result(timeout=10) == 4
    process = private_dask_cluster.scheduler
    assert process is not None
    process.popen.kill()
    process.popen.wait(timeout=5)
    assert wait_until(lambda: not dask_client.is_alive(old))
    with pytest.raises(SchedulerConnectionError):
        record.client  # noqa: B018 - the dead client is dropped here

    scheduler = start_scheduler(port=port_of(address), dashboard=False, timeout=20)
    worker = start_worker(scheduler.address, timeout=20)
    try:
        new = get_scheduler("Phoenix").client
        assert new is not old
        assert new.submit(operator.add, 3, 3).result(timeout=10) == 6
        assert wait_until(lambda: old.status == "closed")

        # Restarted again, and nobody asks until it is back: the next access
        # gets a working client (a new one, or the old one if it reconnected).
        worker.stop()
        scheduler.stop()
        assert wait_until(lambda: not dask_client.is_alive(new))
        scheduler = start_scheduler(port=port_of(address), dashboard=False, timeout=20)
        worker = start_worker(scheduler.address, timeout=20)
        again = get_scheduler("Phoenix").client
        assert again.submit(operator.add, 4, 4).result(timeout=10) == 8
    finally:
        dask_client.close_clients(address)
        worker.stop()
        scheduler.stop()


def test_saving_a_record_with_a_new_host_retires_its_client(
    tethys_dask_scheduler: DaskScheduler, private_dask_cluster: LocalDaskCluster
) -> None:
    record = get_scheduler("Default")
    old = record.client
    record.description = "only the description changed"
    record.save()
    assert get_scheduler("Default").client is old

    held = old.submit(time.sleep, 0.5)
    record.host = private_dask_cluster.address
    record.save()
    new = get_scheduler("Default").client
    assert new is not old
    assert new.scheduler is not None and new.scheduler.address == private_dask_cluster.address
    # The retired client keeps running while a caller holds a future on it ...
    held.result(timeout=10)
    assert old.status == "running"
    # ... and is closed once nobody does.
    del held
    assert wait_until(lambda: old.status == "closed", timeout=5)


def test_deleting_a_record_closes_its_client(tethys_dask_scheduler: DaskScheduler) -> None:
    client = tethys_dask_scheduler.client
    get_scheduler("Default").delete()
    assert wait_until(lambda: client.status == "closed", timeout=5)


def test_close_clients_closes_everything_and_stops_the_loop(
    tethys_dask_scheduler: DaskScheduler,
) -> None:
    client = tethys_dask_scheduler.client
    assert dask_client.close_clients() >= 1
    assert client.status == "closed"
    assert io_loop_threads() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("asyncio_")]
    assert tethys_dask_scheduler.client.submit(operator.add, 1, 1).result(timeout=10) == 2


# ----------------------------------------------------------------------
# Health and dashboard
# ----------------------------------------------------------------------
def test_test_connection_reports_workers_latency_and_versions(
    tethys_dask_scheduler: DaskScheduler, tethys_dask_cluster: LocalDaskCluster
) -> None:
    client = tethys_dask_scheduler.client
    result = get_scheduler("Default").test_connection()
    assert result.ok, result.summary
    assert tethys_dask_scheduler.client is client  # the test used the shared client
    assert client.run_on_scheduler(count_real_clients) == 1
    assert [c.name for c in result.checks] == ["address", "connect", "workers", "versions"]
    assert result.latency_ms is not None and 0 < result.latency_ms < 1000
    assert result.details["n_workers"] == 1
    assert result.details["total_threads"] == 2
    assert result.details["total_memory"] > 0
    assert result.details["scheduler_address"] == tethys_dask_cluster.address
    for side in ("client", "scheduler"):
        assert set(result.versions[side]) == {"python", "dask", "distributed", "msgpack"}
        assert result.versions[side]["distributed"]
    assert len(result.versions["workers"]) == 1
    assert result.warnings == []  # one virtualenv: no skew
    assert result.as_dict()["ok"] is True


def test_version_skew_is_reported_per_package_and_side() -> None:
    warnings = dask_client.version_warnings(
        {
            "client": {"python": "3.11.7", "dask": "2026.8.0", "msgpack": "1.2.4"},
            "scheduler": {"python": "3.12.1", "dask": "2026.8.0", "msgpack": "1.2.4"},
            "worker tcp://10.0.0.5:4000": {"python": "3.11.7", "dask": "2026.7.0"},
        }
    )
    assert warnings == [
        "python versions differ: client 3.11.7, scheduler 3.12.1, worker tcp://10.0.0.5:4000 "
        "3.11.7",
        "dask versions differ: client 2026.8.0, scheduler 2026.8.0, worker tcp://10.0.0.5:4000 "
        "2026.7.0",
        "msgpack versions differ: client 1.2.4, scheduler 1.2.4, worker tcp://10.0.0.5:4000 None",
    ]


def test_test_connection_of_an_unreachable_scheduler_fails_within_its_bound(
    silent_server: Any, settings: Any
) -> None:
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "HEALTH_CHECK_TIMEOUT": 1.0}
    record = create_dask_scheduler("Mute", silent_server.address, timeout=30)
    started = time.monotonic()
    result = record.test_connection()
    assert time.monotonic() - started < 2.0
    assert not result.ok
    assert result.checks[-1].name == "connect" and "did not answer" in result.checks[-1].detail
    assert result.summary.startswith("FAILED: connect")


def test_dashboard_link_from_the_field(tethys_dask_scheduler: DaskScheduler) -> None:
    record = create_dask_scheduler("Dash", "127.0.0.1:8786", dashboard="127.0.0.1:8787")
    assert record.dashboard_link == "http://127.0.0.1:8787/status"
    record.dashboard = "https://dask.example.com/status"
    assert record.dashboard_link == "https://dask.example.com/status"


def test_dashboard_link_from_the_scheduler(
    tethys_dask_scheduler: DaskScheduler, tethys_dask_cluster: LocalDaskCluster
) -> None:
    assert tethys_dask_cluster.dashboard_link is not None
    assert tethys_dask_scheduler.dashboard_link == tethys_dask_cluster.dashboard_link


def test_dashboard_link_of_an_unreachable_scheduler_is_none(refused_address: str) -> None:
    assert create_dask_scheduler("Gone", refused_address).dashboard_link is None


def test_records_sharing_a_dead_address_each_fail_under_their_own_name(
    refused_address: str,
) -> None:
    # Tested together (the admin action, `schedulers test`), records with one
    # address share a connection attempt; each result must still name its record.
    from tethys_compute.health_runner import check_schedulers

    names = [f"rec{i}" for i in range(8)]
    records = [create_dask_scheduler(name, refused_address, timeout=2) for name in names]
    for _round in range(3):
        checks = check_schedulers(records)
        assert len(checks) == len(names)
        for check in checks:
            assert not check.result.ok
            text = check.result.summary
            own = f"'{check.scheduler.name}'"
            assert own in text, text
            for other in {f"'{n}'" for n in names} - {own}:
                assert other not in text, text


@pytest.mark.sshd
def test_another_service_behind_a_dask_address_is_a_clear_failure_not_memory_error(
    sshd: Any,
) -> None:
    """An SSH banner ("SSH-2.0-...") reads as a frame of exabytes: the probe checks lengths."""
    address = f"tcp://127.0.0.1:{sshd.port}"
    with pytest.raises(SchedulerConnectionError) as info:
        dask_client.scheduler_identity(address, timeout=5, label="Not Dask")
    assert "bytes" in str(info.value) and "another service" in str(info.value)
    record = create_dask_scheduler("Not Dask", address, timeout=5)
    result = record.check_health()
    assert not result.ok
    assert "another service" in " ".join(c.detail for c in result.checks)
