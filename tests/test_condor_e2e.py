"""End to end: a Condor scheduler record, a real SSH connection, the HTCondor stand-in.

Every test talks to the loopback ``sshd`` fixture as its test account, whose
PATH starts with the HTCondor stand-in's ``bin`` directory (the stand-in
really runs the jobs as local processes, one slot).  Every wait is bounded;
jobs that could block the slot are removed when a test ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import condorpy
import pytest

from tests.fixtures.sshd import SSHD, start_sshd
from tethys_compute import condor
from tethys_compute.condor import ActionOutcome, JobInfo, JobStatus
from tethys_compute.exceptions import (
    CondorError,
    CondorJobNotFoundError,
    CondorNotInstalledError,
    CondorSubmitError,
    CondorTimeoutError,
    RemoteCommandNotFoundError,
)
from tethys_compute.models import CondorScheduler
from tethys_compute.remote import CommandResult, RemoteHost

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]

STEP = 0.05


class CountingHost:
    """Passes every call to a real RemoteHost; counts the remote commands and keeps their argv."""

    def __init__(self, inner: RemoteHost) -> None:
        self.inner = inner
        self.label = inner.label
        self.runs = 0
        self.argvs: list[list[str]] = []

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.runs += 1
        self.argvs.append(list(argv))
        return self.inner.run(argv, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_scheduler(server: SSHD, name: str) -> CondorScheduler:
    return CondorScheduler.objects.create(
        name=name,
        host=server.host,
        port=server.port,
        username=server.username,
        # A key, not the password: every start_sshd() gives the account a new password.
        private_key_path=str(server.keys["ed25519"]),
        host_key=server.host_key_line,
    )


@pytest.fixture
def scheduler(sshd_running: SSHD) -> CondorScheduler:
    return make_scheduler(sshd_running, "condor-e2e")


@pytest.fixture
def host(scheduler: CondorScheduler) -> Iterator[RemoteHost]:
    remote = scheduler.get_remote_host()
    submitted: list[int] = []
    remote.submitted = submitted  # type: ignore[attr-defined]
    yield remote
    if submitted:  # never leave a job holding the stand-in's only slot
        condor.remove(remote, [str(c) for c in submitted])


def submit(host: RemoteHost, *args: Any, **kwargs: Any) -> condor.SubmitResult:
    result = condor.submit(host, *args, **kwargs)
    host.submitted.append(result.cluster_id)  # type: ignore[attr-defined]
    return result


def status_of(host: RemoteHost, job_id: str) -> JobInfo | None:
    return condor.job_statuses(host, [job_id]).get(job_id)


def wait_for(
    host: RemoteHost, job_id: str, wanted: set[JobStatus], timeout: float = 15.0
) -> JobInfo:
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = status_of(host, job_id)
        if info is not None and info.status in wanted:
            return info
        time.sleep(STEP)
    pytest.fail(f"job {job_id} did not reach {wanted} within {timeout} s (last: {info})")


@pytest.fixture(scope="module")
def sshd_without_condor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """A second sshd whose account PATH has no HTCondor at all."""
    import shutil
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="tethys-sshd-nocondor-"))
    try:
        # Its own account, so the session sshd's account is left alone.
        server = start_sshd(workdir, username="tethys-nocondor", path_prepend=[])
    except Exception as exc:  # noqa: BLE001 - the fixture must say why it cannot start
        pytest.fail(f"Cannot start the sshd without HTCondor: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Connection test
# --------------------------------------------------------------------------
def test_test_connection_reports_ssh_htcondor_version_and_schedd(
    scheduler: CondorScheduler,
) -> None:
    result = scheduler.test_connection()
    assert result.ok, result.summary
    names = [c.name for c in result.checks]
    assert {"TCP reachable", "host key", "authenticated", "condor_version"} <= set(names)
    assert names[-1] == "schedd answering"
    assert result.versions["htcondor"] == "25.14.0"
    assert result.latency_ms is not None and result.duration_s is not None
    assert result.duration_s < 10.0
    assert scheduler.condor_version().version_tuple >= (25, 13, 2)
    assert condor.schedd_ok(scheduler.get_remote_host())
    first = scheduler.get_remote_host()
    scheduler.port = scheduler.port + 1  # a connection field changed: a new host object
    assert scheduler.get_remote_host() is not first


def test_htcondor_not_installed_gives_a_clear_error(sshd_without_condor: SSHD) -> None:
    scheduler = make_scheduler(sshd_without_condor, "no-condor")
    result = scheduler.test_connection()
    assert not result.ok
    failed = [c for c in result.checks if not c.ok]
    assert [c.name for c in failed] == ["condor_version"]
    assert "not found" in failed[0].detail and "PATH" in failed[0].detail
    assert [c.name for c in result.checks if c.ok][-1] == "command runs"  # SSH itself works
    host = scheduler.get_remote_host()
    with pytest.raises(CondorNotInstalledError) as info:
        condor.job_statuses(host, ["1"])
    assert isinstance(info.value, RemoteCommandNotFoundError)
    assert "condor_q" in str(info.value) and "no-condor" in str(info.value)
    with pytest.raises(RemoteCommandNotFoundError, match="condor_submit"):
        condor.submit(host, {"executable": "/bin/true"})


# --------------------------------------------------------------------------
# A job's life
# --------------------------------------------------------------------------
def test_job_goes_idle_running_completed_and_its_output_comes_back(
    scheduler: CondorScheduler, host: RemoteHost, tmp_path: Path
) -> None:
    assert scheduler.get_remote_host() is host is scheduler.remote  # cached on the record
    script = tmp_path / "work.sh"
    script.write_text(
        "#!/bin/sh\nsleep 1\nprintf 'result of %s\\n' \"$1\" > result.txt\necho stdout-$2\n"
    )
    script.chmod(0o755)
    job = scheduler.submit(
        {
            "executable": "work.sh",
            "arguments": ["alpha beta", "x"],
            "output": "job.out",
            "error": "job.err",
            "log": "job.log",
        },
        input_files=[script],
    )
    host.submitted.append(job.cluster_id)  # type: ignore[attr-defined]
    assert job.num_jobs == 1 and job.job_ids == (f"{job.cluster_id}.0",)
    assert job.remote_dir.startswith("/")
    seen: list[JobStatus] = []
    job_id = f"{job.cluster_id}.0"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = scheduler.job_statuses([job.cluster_id])[job_id]
        if info.status is not None and (not seen or seen[-1] != info.status):
            seen.append(info.status)
        if info.done:
            break
        time.sleep(STEP)
    assert seen == [JobStatus.IDLE, JobStatus.RUNNING, JobStatus.COMPLETED]
    assert info.succeeded and not info.in_queue and info.exit_code == 0
    assert scheduler.wait(job.cluster_id, timeout=5)[job_id].succeeded

    out = tmp_path / "o"
    fetched = scheduler.fetch_outputs(job.remote_dir, ["result.txt", "job.out"], out)
    assert [p.name for p in fetched] == ["result.txt", "job.out"]
    assert (out / "result.txt").read_text() == "result of alpha beta\n"
    assert (out / "job.out").read_text() == "stdout-x\n"
    with pytest.raises(CondorError, match="nosuch.txt"):
        scheduler.fetch_outputs(job.remote_dir, ["nosuch.txt"], out)
    everything = condor.fetch_outputs(host, job.remote_dir, None, tmp_path / "all")
    assert {"job.sub", "work.sh", "job.log", "result.txt"} <= {p.name for p in everything}

    scheduler.clean_remote_dir(job.remote_dir)
    with pytest.raises(OSError):
        host.list_dir(job.remote_dir)


def test_failing_job_reports_its_exit_code(host: RemoteHost) -> None:
    job = submit(
        host,
        "executable = /bin/sh\narguments = \"-c 'echo failing >&2; exit 3'\"\n"
        "error = err.txt\nqueue\n",
    )
    final = condor.wait(host, job.cluster_id, timeout=15)
    info = final[f"{job.cluster_id}.0"]
    assert info.status is JobStatus.COMPLETED
    assert info.exit_code == 3 and not info.succeeded and info.exit_by_signal is False


def test_remove_a_running_job(host: RemoteHost) -> None:
    job = submit(host, {"executable": "/bin/sleep", "arguments": "60"})
    job_id = f"{job.cluster_id}.0"
    wait_for(host, job_id, {JobStatus.RUNNING})
    removed = condor.remove(host, job.cluster_id, reason="e2e removal")
    assert removed.ok and removed.outcomes == {str(job.cluster_id): ActionOutcome.DONE}
    final = condor.wait(host, job_id, timeout=15)
    assert final[job_id].status is JobStatus.REMOVED
    assert "e2e removal" in (final[job_id].remove_reason or "")
    again = condor.remove(host, job_id)
    assert again.outcomes[job_id] is ActionOutcome.NOT_FOUND and not again.ok
    with pytest.raises(CondorError, match=job_id):
        again.raise_for_failure()
    again.raise_for_failure(allow=[ActionOutcome.NOT_FOUND])


def test_hold_and_release(host: RemoteHost) -> None:
    job = submit(host, {"executable": "/bin/sleep", "arguments": "60"})
    job_id = f"{job.cluster_id}.0"
    held = condor.hold(host, job_id, reason="e2e hold")
    assert held.outcomes == {job_id: ActionOutcome.DONE}
    info = wait_for(host, job_id, {JobStatus.HELD})
    assert info.hold_reason is not None and info.hold_reason.startswith("e2e hold")
    # A held job does not finish: wait returns as soon as everything left is held.
    assert condor.wait(host, job_id, timeout=10)[job_id].status is JobStatus.HELD
    with pytest.raises(CondorTimeoutError, match=job_id):
        condor.wait(host, job_id, timeout=0.3, until_held=False)
    again = condor.hold(host, job_id)
    assert (
        again.outcomes[job_id] is ActionOutcome.ALREADY and "already held" in again.messages[job_id]
    )
    released = condor.release(host, job_id)
    assert released.ok
    info = wait_for(host, job_id, {JobStatus.IDLE, JobStatus.RUNNING})
    assert condor.release(host, job_id).outcomes[job_id] is ActionOutcome.ALREADY
    assert condor.remove(host, job_id).ok


def test_submit_error_shows_htcondors_error_line(host: RemoteHost) -> None:
    with pytest.raises(CondorSubmitError) as info:
        condor.submit(host, {"executable": "/no/such/program"})
    message = str(info.value)
    assert "ERROR: Can't access executable file /no/such/program" in message
    assert "condor_watch_q" not in message
    directory = message.rsplit("(in ", 1)[1].rstrip(")")
    with pytest.raises(OSError):  # the fresh directory went away with the failure
        host.list_dir(directory)


def test_wait_on_an_unknown_job_fails_fast(host: RemoteHost) -> None:
    started = time.monotonic()
    with pytest.raises(CondorJobNotFoundError, match="987654"):
        condor.wait(host, "987654", timeout=30)
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------
# DAG
# --------------------------------------------------------------------------
def test_dag_of_two_nodes_runs_in_order(host: RemoteHost, tmp_path: Path) -> None:
    a = condorpy.Job(
        "A", executable="/bin/sh", arguments="\"-c 'echo from-A > a.txt'\"", output="A.out"
    )
    b = condorpy.Job(
        "B", executable="/bin/sh", arguments="\"-c 'cat a.txt > b.txt; echo B >> b.txt'\""
    )
    workflow = condorpy.Workflow("two", config=None, max_jobs={})
    workflow.add_node(condorpy.Node(b, parents={condorpy.Node(a)}))
    dag = condor.submit_dag(host, workflow)
    host.submitted.append(dag.cluster_id)  # type: ignore[attr-defined]
    condor.wait(host, dag.cluster_id, timeout=30)  # the DAGMan job ends with its DAG
    status = condor.dag_status(host, dag.cluster_id)
    assert status.done, status
    assert status.succeeded
    assert set(status.nodes) == {"A", "B"}
    node_a, node_b = status.nodes["A"], status.nodes["B"]
    assert node_a.succeeded and node_b.succeeded
    assert node_a.dagman_job_id == node_b.dagman_job_id == dag.cluster_id
    assert node_a.cluster_id < node_b.cluster_id
    condor.fetch_outputs(host, dag.remote_dir, ["b.txt"], tmp_path)
    assert (tmp_path / "b.txt").read_text() == "from-A\nB\n"


# --------------------------------------------------------------------------
# Many jobs, one round trip
# --------------------------------------------------------------------------
def test_status_of_many_jobs_in_one_round_trip(host: RemoteHost) -> None:
    done = submit(host, {"executable": "/bin/true"})
    condor.wait(host, done.cluster_id, timeout=20)  # left the queue: in the history now
    blocker = submit(host, {"executable": "/bin/sleep", "arguments": "30"})
    many = submit(host, {"executable": "/bin/true", "queue": 25})
    single = submit(host, {"executable": "/bin/true"})
    assert condor.hold(host, str(single.cluster_id)).ok
    counting = CountingHost(host)
    ids = [str(many.cluster_id), f"{single.cluster_id}.0", str(done.cluster_id), "999999"]
    infos = condor.job_statuses(counting, ids)
    assert counting.runs == 1
    assert len([i for i in infos.values() if i.cluster_id == many.cluster_id]) == 25
    assert infos[f"{single.cluster_id}.0"].status is JobStatus.HELD
    assert infos[f"{done.cluster_id}.0"].status is JobStatus.COMPLETED
    assert not infos[f"{done.cluster_id}.0"].in_queue
    assert not any(i.cluster_id == 999999 for i in infos.values())
    assert condor.remove(host, [blocker.cluster_id, many.cluster_id, single.cluster_id]).ok


def test_more_ids_than_one_query_takes_are_split_into_few_round_trips(
    host: RemoteHost,
) -> None:
    from tethys_compute.condor.client import MAX_IDS_PER_QUERY

    job = submit(host, {"executable": "/bin/true", "hold": True, "queue": 3})
    ids = [f"{job.cluster_id}.{p}" for p in range(MAX_IDS_PER_QUERY + 50)]
    counting = CountingHost(host)
    infos = condor.job_statuses(counting, ids)
    assert counting.runs == 2
    assert list(infos) == list(job.job_ids)
    assert {i.status for i in infos.values()} == {JobStatus.HELD}


def test_statuses_from_several_threads_at_once_stay_apart(host: RemoteHost) -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs = [submit(host, {"executable": "/bin/true", "hold": True}) for _ in range(4)]

    def ask(index: int) -> set[str]:
        job = jobs[index % len(jobs)]
        return set(condor.job_statuses(host, [job.cluster_id]))

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, range(24)))
    for index, answer in enumerate(answers):
        assert answer == {f"{jobs[index % len(jobs)].cluster_id}.0"}


def test_inputs_from_bytes_and_a_condorpy_job_with_its_own_input_files(
    host: RemoteHost, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("payload\n")
    job = condorpy.Job(
        "copy",
        executable="/bin/sh",
        arguments="\"-c 'cat data.txt extra.txt > copy.txt'\"",
        working_directory=str(tmp_path),
    )
    job.remote_input_files = ["data.txt"]
    first = submit(host, job)
    assert sorted(host.list_dir(first.remote_dir)) == ["data.txt", "job.sub"]
    condor.remove(host, first.cluster_id)
    second = submit(
        host,
        {"executable": "/bin/sh", "arguments": ["-c", "cat data.txt extra.txt > copy.txt"]},
        input_files={"data.txt": tmp_path / "data.txt", "extra.txt": b"more\n"},
    )
    final = condor.wait(host, second.cluster_id, timeout=20)
    assert final[f"{second.cluster_id}.0"].succeeded
    condor.fetch_outputs(host, second.remote_dir, ["copy.txt"], tmp_path / "out")
    assert (tmp_path / "out" / "copy.txt").read_text() == "payload\nmore\n"
    condor.clean(host, second.remote_dir)
    condor.clean(host, first.remote_dir)


def test_failing_dag_node_is_reported_with_its_exit_code(host: RemoteHost) -> None:
    dag = condor.submit_dag(
        host,
        "JOB F f.sub\nJOB G g.sub\nPARENT F CHILD G\n",
        {
            "f.sub": {"executable": "/bin/sh", "arguments": ["-c", "exit 4"]},
            "g.sub": "executable = /bin/true\nqueue\n",
        },
    )
    host.submitted.append(dag.cluster_id)  # type: ignore[attr-defined]
    condor.wait(host, dag.cluster_id, timeout=30)  # the DAGMan job ends with its DAG
    status = condor.dag_status(host, dag.cluster_id)
    assert status.done and not status.succeeded
    assert list(status.nodes) == ["F"]  # G never ran
    assert status.nodes["F"].exit_code == 4


def test_dollar_signs_in_arguments_and_environment_arrive_literally(
    host: RemoteHost, tmp_path: Path
) -> None:
    """condor_submit expands $ENV(...) and $(...) everywhere; list values are escaped."""
    literal = ["$ENV(HOME)", "$(Owner)", "a$b", "$(DOLLAR)", "cost: 5$"]
    job = submit(
        host,
        {
            "executable": "/bin/sh",
            "arguments": [
                "-c",
                'printf "%s|" "$@"; printf "%s" "$V"',
                "sh",
                *literal,
                "$(Process)",
            ],
            "environment": {"V": "$ENV(HOME)-$(DOLLAR)"},
            "output": "out.txt",
        },
    )
    info = condor.wait(host, job.cluster_id, timeout=15)[f"{job.cluster_id}.0"]
    assert info.succeeded
    fetched = condor.fetch_outputs(host, job.remote_dir, ["out.txt"], tmp_path)
    # The per-job macro $(Process) is still expanded; nothing else is.
    assert fetched[0].read_text() == "|".join([*literal, "0"]) + "|$ENV(HOME)-$(DOLLAR)"


def test_input_names_that_look_like_options_are_files(host: RemoteHost) -> None:
    job = submit(
        host,
        {"executable": "/bin/cat", "arguments": ["./-v/data.txt"], "output": "out.txt"},
        {"-v/data.txt": b"not an option\n", "--help/x.txt": b"x\n"},
    )
    assert condor.wait(host, job.cluster_id, timeout=15)[f"{job.cluster_id}.0"].succeeded
    assert "data.txt" in host.list_dir(job.remote_dir + "/-v")
    assert "x.txt" in host.list_dir(job.remote_dir + "/--help")
