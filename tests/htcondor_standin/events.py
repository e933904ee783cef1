"""Job event log ("user log") writing and reading for the HTCondor test stand-in.

The text format follows HTCondor's classic event log: one event starts with
``NNN (CCC.PPP.SSS) YYYY-MM-DD HH:MM:SS <text>`` and ends with a line ``...``.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from dataclasses import dataclass

USAGE_ZERO = "Usr 0 00:00:00, Sys 0 00:00:00"


def format_time(when: float) -> str:
    """The ISO-like date an event log line carries."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def header(code: int, cluster: int, proc: int, when: float, text: str) -> str:
    """First line of an event."""
    return f"{code:03d} ({cluster:03d}.{proc:03d}.000) {format_time(when)} {text}\n"


def job_logs(ad: dict) -> list[str]:
    """Event logs a job writes to: its ``UserLog`` and, for DAG nodes, DAGMan's node log."""
    paths: list[str] = []
    for attr in ("UserLog", "DAGManNodesLog"):
        value = ad.get(attr)
        if isinstance(value, str) and value and value not in paths:
            paths.append(value)
    return paths


def append(path: str, text: str, *, create_dirs: bool = False) -> None:
    """Append events to a log file (with an exclusive lock on it).

    A log whose directory is gone is skipped, unless ``create_dirs``: the real
    schedd re-creates a removed job's directory to write its abort event (see
    ``schedd.py``), and so does the stand-in then.
    """
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        if not create_dirs:
            return
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode())
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def submit(cluster: int, proc: int, when: float, host: str, extra: dict[str, str]) -> str:
    """000: Job submitted."""
    text = header(0, cluster, proc, when, f"Job submitted from host: {host}")
    if extra:
        inner = "; ".join(f'{k} = "{v}"' for k, v in extra.items())
        text += f"    [ {inner} ]\n"
    return text + "...\n"


def execute(
    cluster: int,
    proc: int,
    when: float,
    host: str,
    slot: str | None,
    scratch: str,
    cpus: int,
    disk: int,
    memory: int,
) -> str:
    """001: Job executing (a scheduler-universe job has no body)."""
    text = header(1, cluster, proc, when, f"Job executing on host: {host}")
    if slot is not None:
        text += (
            f"\tSlotName: {slot}\n"
            f'\tCondorScratchDir = "{scratch}"\n'
            f"\tCpus = {cpus}\n\tDisk = {disk}\n\tMemory = {memory}\n"
        )
    return text + "...\n"


def image_size(cluster: int, proc: int, when: float, size_kb: int, rss_kb: int) -> str:
    """006: Image size of job updated."""
    return (
        header(6, cluster, proc, when, f"Image size of job updated: {size_kb}")
        + f"\t{(rss_kb + 1023) // 1024}  -  MemoryUsage of job (MB)\n"
        + f"\t{rss_kb}  -  ResidentSetSize of job (KB)\n...\n"
    )


def resources_table(
    usage_cpus: str, disk_kb: int, mem_mb: int, request: tuple[int, int, int], seconds: int
) -> str:
    """The "Partitionable Resources" block of 004/005 events."""
    req_cpus, req_disk, req_mem = request
    rows = [
        ("Cpus", usage_cpus, str(req_cpus), "1"),
        ("Disk (KB)", str(disk_kb), str(req_disk), str(req_disk)),
        ("Memory (MB)", str(mem_mb), str(req_mem), str(max(req_mem, 128))),
        ("TimeExecute (s)", str(seconds), "", ""),
        ("TimeSlotBusy (s)", str(seconds), "", ""),
    ]
    text = "\tPartitionable Resources :    Usage  Request Allocated \n"
    for name, usage, req, alloc in rows:
        text += f"\t   {name:<21}: {usage:>8} {req:>8} {alloc:>9} \n"
    return text


def terminated(
    cluster: int,
    proc: int,
    when: float,
    exit_code: int | None,
    signal: int | None,
    resources: str | None,
    sent: int = 0,
    received: int = 0,
) -> str:
    """005: Job terminated."""
    text = header(5, cluster, proc, when, "Job terminated.")
    if signal is not None:
        text += f"\t(0) Abnormal termination (signal {signal})\n\t(0) No core file\n"
    else:
        text += f"\t(1) Normal termination (return value {exit_code})\n"
    for what in ("Run Remote", "Run Local", "Total Remote", "Total Local"):
        text += f"\t\t{USAGE_ZERO}  -  {what} Usage\n"
    text += (
        f"\t{sent}  -  Run Bytes Sent By Job\n"
        f"\t{received}  -  Run Bytes Received By Job\n"
        f"\t{sent}  -  Total Bytes Sent By Job\n"
        f"\t{received}  -  Total Bytes Received By Job\n"
    )
    if resources:
        text += resources
    return text + "...\n"


def evicted(cluster: int, proc: int, when: float, code: int, reason: str, resources: str) -> str:
    """004: Job was evicted (hold or removal of a running job)."""
    return (
        header(4, cluster, proc, when, f"Job was evicted. Code {code} Subcode 0")
        + "\t(0) CPU times\n"
        + f"\t\t{USAGE_ZERO}  -  Run Remote Usage\n"
        + f"\t\t{USAGE_ZERO}  -  Run Local Usage\n"
        + "\t0  -  Run Bytes Sent By Job\n"
        + "\t0  -  Run Bytes Received By Job\n"
        + f"\tReason: {reason}\n"
        + resources
        + "...\n"
    )


def aborted(cluster: int, proc: int, when: float, reason: str) -> str:
    """009: Job was aborted (removed)."""
    return header(9, cluster, proc, when, "Job was aborted.") + f"\t{reason}\n...\n"


def held(cluster: int, proc: int, when: float, reason: str, code: int, subcode: int) -> str:
    """012: Job was held."""
    return (
        header(12, cluster, proc, when, "Job was held.")
        + f"\t{reason}\n\tCode {code} Subcode {subcode}\n...\n"
    )


def released(cluster: int, proc: int, when: float, reason: str) -> str:
    """013: Job was released."""
    return header(13, cluster, proc, when, "Job was released.") + f"\t{reason}\n...\n"


def transfer(cluster: int, proc: int, when: float, what: str, host: str | None) -> str:
    """040: file transfer progress."""
    text = header(40, cluster, proc, when, what)
    if host:
        text += f"\tTransferring to host: {host}\n"
    return text + "...\n"


# --------------------------------------------------------------------------- reading

_HEAD_RE = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.(\d+)\) (\S+) (\S+) (.*)$")
_RETURN_RE = re.compile(r"\(1\) Normal termination \(return value (-?\d+)\)")
_SIGNAL_RE = re.compile(r"\(0\) Abnormal termination \(signal (\d+)\)")


@dataclass
class Event:
    """One parsed event."""

    code: int
    cluster: int
    proc: int
    subproc: int
    date: str
    clock: str
    lines: list[str]

    @property
    def text(self) -> str:
        """The event as it appears in the log (header to ``...``)."""
        return "".join(self.lines)

    @property
    def first_line_rest(self) -> str:
        """Text after the date on the first line."""
        m = _HEAD_RE.match(self.lines[0].rstrip("\n"))
        return m.group(7) if m else ""

    @property
    def return_value(self) -> int | None:
        """Exit code of a 005 event with normal termination."""
        m = _RETURN_RE.search(self.text)
        return int(m.group(1)) if m else None

    @property
    def signal(self) -> int | None:
        """Signal of a 005 event with abnormal termination."""
        m = _SIGNAL_RE.search(self.text)
        return int(m.group(1)) if m else None

    @property
    def epoch(self) -> float:
        """Event time as Unix time."""
        try:
            return time.mktime(time.strptime(f"{self.date} {self.clock}", "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            return 0.0


def parse_text(text: str) -> tuple[list[Event], int]:
    """Parse complete events from ``text``; returns them and the offset consumed."""
    events: list[Event] = []
    pos = 0
    current: list[str] | None = None
    head: re.Match[str] | None = None
    consumed = 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith("\n"):
            break
        stripped = line.rstrip("\n")
        if current is None:
            m = _HEAD_RE.match(stripped)
            if m:
                current = [line]
                head = m
            else:
                consumed = pos
            continue
        current.append(line)
        if stripped == "...":
            assert head is not None
            events.append(
                Event(
                    code=int(head.group(1)),
                    cluster=int(head.group(2)),
                    proc=int(head.group(3)),
                    subproc=int(head.group(4)),
                    date=head.group(5),
                    clock=head.group(6),
                    lines=current,
                )
            )
            current = None
            consumed = pos
    return events, consumed


def read_file(path: str) -> list[Event]:
    """All complete events of a log file (empty list if it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse_text(fh.read())[0]
    except OSError:
        return []
