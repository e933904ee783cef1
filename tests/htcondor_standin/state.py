"""Persistent queue/history state of the HTCondor test stand-in (not HTCondor).

Everything lives in one directory (``$CONDOR_STANDIN_DIR``, default ``~/.condor_standin``):

``queue.json``     the job queue (next cluster id and one record per job)
``history.jsonl``  ads of jobs that left the queue, oldest first
``state.lock``     ``fcntl`` lock serialising every read-modify-write of the two files above
``schedd.lock``    held by the transient scheduler process while it runs
``schedd.log``     what the scheduler process wrote on stdout/stderr
``jobcount.json``  the job count as the schedd last refreshed it (see ``actions.py``)
``execute/``       scratch directories of jobs that use file transfer
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from htcondor_standin import classad

VERSION_LINE = "$CondorVersion: 25.14.0 2026-11-24 PRE-RELEASE-UWCS $"
PLATFORM_LINE = "$CondorPlatform: X86_64-Debian_12 $"

STATUS_IDLE = 1
STATUS_RUNNING = 2
STATUS_REMOVED = 3
STATUS_COMPLETED = 4
STATUS_HELD = 5
STATUS_TRANSFERRING_OUTPUT = 6
STATUS_SUSPENDED = 7

UNIVERSE_VANILLA = 5
# attributes the schedd keeps only while a job is in the queue
QUEUE_ONLY_ATTRS = (
    "AutoClusterAttrs",
    "AutoClusterId",
    "RemoteSlotID",
    "ShadowBday",
    "StartdIpAddr",
    "ServerTime",
)
UNIVERSE_SCHEDULER = 7

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.path.join(PACKAGE_DIR, "bin")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _default_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("USER", "nobody")


@dataclass
class Config:
    """Settings of the stand-in, all taken from ``CONDOR_STANDIN_*`` environment variables."""

    state_dir: str
    start_delay: float
    slots: int
    poll: float
    remove_linger: float
    transfer_delay: float
    hostname: str
    user: str
    first_cluster: int
    count_interval: float = 5.0

    @classmethod
    def from_env(cls) -> Config:
        """Read the configuration from the environment."""
        state_dir = os.environ.get("CONDOR_STANDIN_DIR") or os.path.join(
            os.path.expanduser("~"), ".condor_standin"
        )
        return cls(
            state_dir=os.path.abspath(state_dir),
            start_delay=_env_float("CONDOR_STANDIN_START_DELAY", 0.5),
            slots=max(1, int(_env_float("CONDOR_STANDIN_SLOTS", 1))),
            poll=max(0.02, _env_float("CONDOR_STANDIN_POLL", 0.1)),
            remove_linger=_env_float("CONDOR_STANDIN_REMOVE_LINGER", 1.0),
            transfer_delay=_env_float("CONDOR_STANDIN_TRANSFER_DELAY", 0.0),
            hostname=os.environ.get("CONDOR_STANDIN_HOSTNAME")
            or socket.gethostname().split(".")[0],
            user=os.environ.get("CONDOR_STANDIN_USER") or _default_user(),
            first_cluster=int(_env_float("CONDOR_STANDIN_FIRST_CLUSTER", 1)),
            count_interval=_env_float("CONDOR_STANDIN_COUNT_INTERVAL", 5.0),
        )

    @property
    def schedd_port(self) -> int:
        """A made-up, stable port number for the schedd's address."""
        return 30000 + zlib.crc32(self.state_dir.encode()) % 20000

    @property
    def startd_port(self) -> int:
        """A made-up port number for the startd's address."""
        return self.schedd_port + 1

    def sinful(self, port: int) -> str:
        """A "sinful string" address as HTCondor prints it."""
        return f"<127.0.0.1:{port}?addrs=127.0.0.1-{port}&alias={self.hostname}>"

    @property
    def schedd_sinful(self) -> str:
        """Address of the (pretend) schedd."""
        return self.sinful(self.schedd_port)

    @property
    def startd_sinful(self) -> str:
        """Address of the (pretend) startd."""
        return self.sinful(self.startd_port)

    @property
    def schedd_name(self) -> str:
        """Name of the (pretend) schedd: ``user@host``."""
        return f"{self.user}@{self.hostname}"

    @property
    def slot_name(self) -> str:
        """Name of the dynamic slot jobs run in."""
        return f"slot1_1@{self.hostname}"


class Job:
    """One queued job: its ad plus the stand-in's private bookkeeping (``sys``).

    A job read from ``queue.json`` decodes its ad when it is first used, so a
    tool that appends jobs or looks at a few does not decode the whole queue.
    """

    def __init__(
        self,
        ad: dict[str, Any] | None = None,
        sys: dict[str, Any] | None = None,
        *,
        stored: dict[str, Any] | None = None,
    ) -> None:
        self._ad = ad
        self._stored = stored if ad is None else None
        self.sys = {} if sys is None else sys

    @property
    def ad(self) -> dict[str, Any]:
        """The job's ClassAd (decoded on first use)."""
        if self._ad is None:
            self._ad = classad.ad_from_storable(self._stored or {})
            self._stored = None
        return self._ad

    @ad.setter
    def ad(self, value: dict[str, Any]) -> None:
        self._ad, self._stored = value, None

    @property
    def stored(self) -> dict[str, Any]:
        """The ad as ``queue.json`` stores it (without decoding it when it was not used)."""
        return classad.ad_to_storable(self._ad) if self._ad is not None else self._stored or {}

    def _number(self, name: str, default: int | None = None) -> int:
        stored = self._stored if self._ad is None else None
        if stored is not None and isinstance(stored.get(name, default), int):
            return int(stored.get(name, default))  # type: ignore[arg-type]
        return int(self.ad[name] if default is None else self.ad.get(name, default))

    @property
    def cluster(self) -> int:
        """ClusterId."""
        return self._number("ClusterId")

    @property
    def proc(self) -> int:
        """ProcId."""
        return self._number("ProcId")

    @property
    def status(self) -> int:
        """JobStatus."""
        return self._number("JobStatus", STATUS_IDLE)

    @property
    def job_id(self) -> str:
        """``cluster.proc``."""
        return f"{self.cluster}.{self.proc}"

    @property
    def universe(self) -> int:
        """JobUniverse."""
        return self._number("JobUniverse", UNIVERSE_VANILLA)


@dataclass
class Queue:
    """The loaded queue file."""

    next_cluster: int
    jobs: list[Job]

    def find(self, cluster: int, proc: int) -> Job | None:
        """The job ``cluster.proc`` or None."""
        for job in self.jobs:
            if job.cluster == cluster and job.proc == proc:
                return job
        return None


class State:
    """Access to the state directory with proper locking."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config.from_env()
        self.dir = self.config.state_dir
        os.makedirs(self.dir, exist_ok=True)
        self.queue_path = os.path.join(self.dir, "queue.json")
        self.history_path = os.path.join(self.dir, "history.jsonl")
        self.lock_path = os.path.join(self.dir, "state.lock")
        self.schedd_lock_path = os.path.join(self.dir, "schedd.lock")
        self._raw = ""

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the state lock."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self) -> Queue:
        try:
            with open(self.queue_path, encoding="utf-8") as fh:
                self._raw = fh.read()
            data = json.loads(self._raw)
        except FileNotFoundError:
            self._raw = ""
            return Queue(next_cluster=self.config.first_cluster, jobs=[])
        jobs = [Job(stored=rec["ad"], sys=rec.get("sys", {})) for rec in data.get("jobs", [])]
        return Queue(next_cluster=int(data.get("next_cluster", 1)), jobs=jobs)

    def _save(self, queue: Queue) -> None:
        data = {
            "next_cluster": queue.next_cluster,
            "jobs": [{"ad": j.stored, "sys": j.sys} for j in queue.jobs],
        }
        raw = json.dumps(data)
        if raw == self._raw:
            return
        tmp = self.queue_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(raw)
        os.replace(tmp, self.queue_path)
        self._raw = raw

    def read_queue(self) -> Queue:
        """A consistent snapshot of the queue."""
        with self.lock():
            return self._load()

    @contextlib.contextmanager
    def modify(self) -> Iterator[Queue]:
        """Load the queue under the lock and save it afterwards."""
        with self.lock():
            queue = self._load()
            yield queue
            self._save(queue)

    def append_history(self, ads: list[dict[str, Any]]) -> None:
        """Append finished job ads to the history file (call with the lock held)."""
        with open(self.history_path, "a", encoding="utf-8") as fh:
            for ad in ads:
                for attr in QUEUE_ONLY_ATTRS:
                    ad.pop(attr, None)
                fh.write(json.dumps(classad.ad_to_storable(ad)) + "\n")

    def history_records(self, *, newest_first: bool = True) -> Iterator[dict[str, Any]]:
        """The history's records as stored (not decoded), read one at a time.

        Newest first, the file is read backwards from its end, a block at a
        time, as ``condor_history`` reads it: a caller that stops early (a
        scan limit, enough matches) reads only the records it looked at.
        The state lock is held until the iterator is exhausted or closed.
        """
        with self.lock():
            if not os.path.exists(self.history_path):
                return
            with open(self.history_path, "rb") as fh:
                lines = _lines_backwards(fh) if newest_first else iter(fh)
                for line in lines:
                    if line.strip():
                        yield json.loads(line)

    # ------------------------------------------------------------------ scheduler process

    def scheduler_running(self) -> bool:
        """Whether a scheduler process currently holds ``schedd.lock``."""
        fd = os.open(self.schedd_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def ensure_scheduler(self) -> None:
        """Start the detached scheduler process unless one is running."""
        if self.scheduler_running():
            return
        log = os.open(
            os.path.join(self.dir, "schedd.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        try:
            subprocess.Popen(
                [sys.executable, os.path.join(PACKAGE_DIR, "schedd.py"), self.dir],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=True,
                start_new_session=True,
                cwd="/",
                env=dict(os.environ, CONDOR_STANDIN_DIR=self.dir),
            )
        finally:
            os.close(log)


def _lines_backwards(fh: Any, block: int = 1 << 16) -> Iterator[bytes]:
    """The lines of a binary file, last first."""
    fh.seek(0, os.SEEK_END)
    position = fh.tell()
    tail = b""
    while position > 0:
        size = min(block, position)
        position -= size
        fh.seek(position)
        lines = (fh.read(size) + tail).split(b"\n")
        tail = lines.pop(0)  # the start of a line that began in an earlier block
        yield from reversed(lines)
    yield tail


def now() -> float:
    """Current time (one place to get it)."""
    return time.time()


def set_status(job: Job, status: int, when: float) -> None:
    """Change JobStatus and the attributes HTCondor updates with it."""
    old = job.status
    if old != status:
        job.ad["LastJobStatus"] = old
    job.ad["JobStatus"] = status
    job.ad["EnteredCurrentStatus"] = int(when)
    job.sys["status_time"] = when


def reason_by_user(reason: str | None, default_tool: str, user: str) -> str:
    """``<reason> (by user <user>)`` as condor_rm/hold/release record it."""
    text = reason if reason else f"via {default_tool}"
    return f"{text} (by user {user})"
