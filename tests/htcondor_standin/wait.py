"""``condor_wait`` of the HTCondor test stand-in (not HTCondor).

Supported: ``condor_wait [-wait S] [-num N] [-status] [-echo[:ISO_DATE|JSON|XML]] [-allevents]
<log-file> [C | C.P | C.P.S]`` and ``-version``/``-help``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, TextIO

from htcondor_standin import classad, events
from htcondor_standin.state import PLATFORM_LINE, VERSION_LINE, State

USAGE = """
Use: condor_wait [options] <log-file> [job-number]
Where options are:
    -help             Display options
    -version          Display Condor version
    -debug            Show extra debugging info
    -status           Show job start and terminate info
    -echo[:<fmt>]     Echo log events relevant to [job-number]
       optional <fmt> is one or more log format options:
         ISO_DATE     date in Year-Month-Day form
         UTC          echo time as UTC time
         XML          echo in XML log format
         JSON         echo in JSON log format
    -num <number>     Wait for this many jobs to end
                       (default is all jobs)
    -wait <seconds>   Wait no more than this time
                       (default is unlimited)
    -allevents        Continue on even if all jobs have ended.
                      use with -echo to transcribe the whole log
                      cannot be used with -num

This command watches a log file, and indicates when
a specific job (or all jobs mentioned in the log)
have completed or aborted. It returns success if
all such jobs have completed or aborted, and returns
failure otherwise.{sp}

Examples:
    condor_wait logfile
    condor_wait logfile 35
    condor_wait logfile 1406.35
    condor_wait -wait 60 logfile 13.25.3
    condor_wait -num 2 logfile

Transcribe an entire log to UTC timestamps:
    condor_wait -all -echo:UTC logfile
""".replace("{sp}", " ")

_DATE_RE = re.compile(r"^(\d{3} \(\d+\.\d+\.\d+\) )(\d{4})-(\d{2})-(\d{2}) ")


_EVENT_TYPES = {
    0: "SubmitEvent",
    1: "ExecuteEvent",
    4: "JobEvictedEvent",
    5: "JobTerminatedEvent",
    6: "JobImageSizeEvent",
    9: "JobAbortedEvent",
    12: "JobHeldEvent",
    13: "JobReleaseEvent",
    40: "FileTransferEvent",
}
_RESOURCE_NAMES = {
    "Cpus": "Cpus",
    "Disk (KB)": "Disk",
    "Memory (MB)": "Memory",
    "TimeExecute (s)": "TimeExecute",
    "TimeSlotBusy (s)": "TimeSlotBusy",
}


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def event_fields(event: events.Event) -> dict[str, Any]:
    """The attributes of an event as HTCondor's ClassAd form of events names them."""
    fields: dict[str, Any] = {
        "MyType": _EVENT_TYPES.get(event.code, "GenericEvent"),
        "EventTypeNumber": event.code,
        "Cluster": event.cluster,
        "Proc": event.proc,
        "Subproc": event.subproc,
        "EventTime": f"{event.date}T{event.clock}",
    }
    first = event.first_line_rest
    body = [line.rstrip("\n") for line in event.lines[1:-1]]
    if event.code == 0:
        fields["SubmitHost"] = first.replace("Job submitted from host: ", "")
        for line in body:
            for k, v in re.findall(r'(\w+) = "([^"]*)"', line):
                fields[k] = v
    elif event.code == 1:
        fields["ExecuteHost"] = first.replace("Job executing on host: ", "")
        props: dict[str, Any] = {}
        for line in body:
            if line.startswith("\tSlotName: "):
                fields["SlotName"] = line.split(": ", 1)[1]
            elif " = " in line:
                key, value = line.strip().split(" = ", 1)
                props[key] = classad.parse_value(value)
        if props:
            fields["ExecuteProps"] = props
    elif event.code == 6:
        fields["Size"] = int(first.rsplit(" ", 1)[1])
        for line in body:
            m = re.match(r"^\t(\d+)  -  (MemoryUsage|ResidentSetSize) of job", line)
            if m:
                fields[m.group(2)] = int(m.group(1))
    elif event.code in (9, 13):
        fields["Reason"] = body[0].strip() if body else ""
    elif event.code == 12:
        fields["HoldReason"] = body[0].strip() if body else ""
        m = re.search(r"Code (\d+) Subcode (\d+)", event.text)
        if m:
            fields["HoldReasonCode"] = int(m.group(1))
            fields["HoldReasonSubCode"] = int(m.group(2))
    elif event.code in (4, 5):
        if event.code == 4:
            m = re.search(r"Code (\d+)", first)
            fields.update(
                {
                    "ReasonCode": int(m.group(1)) if m else 0,
                    "Checkpointed": False,
                    "TerminatedNormally": False,
                    "TerminatedAndRequeued": False,
                }
            )
        else:
            returned = event.return_value
            fields["TerminatedNormally"] = returned is not None
            if returned is not None:
                fields["ReturnValue"] = returned
            else:
                fields["TerminatedBySignal"] = event.signal
        labels = {
            "Run Remote Usage": "RunRemoteUsage",
            "Run Local Usage": "RunLocalUsage",
            "Total Remote Usage": "TotalRemoteUsage",
            "Total Local Usage": "TotalLocalUsage",
            "Run Bytes Sent By Job": "SentBytes",
            "Run Bytes Received By Job": "ReceivedBytes",
            "Total Bytes Sent By Job": "TotalSentBytes",
            "Total Bytes Received By Job": "TotalReceivedBytes",
        }
        for line in body:
            stripped = line.strip()
            if stripped.startswith("Reason: "):
                fields["Reason"] = stripped[len("Reason: ") :]
            elif "  -  " in stripped:
                value_text, label = stripped.split("  -  ", 1)
                if label in labels:
                    attr = labels[label]
                    fields[attr] = value_text if "Usage" in attr else float(value_text)
            elif event.code == 5 and ":" in stripped and not stripped.startswith("Partition"):
                resource = _RESOURCE_NAMES.get(stripped.partition(":")[0].strip())
                if resource is None:
                    continue
                attr = resource
                columns = line.split(":", 1)[1]
                usage, request, allocated = (
                    columns[1:9].strip(),
                    columns[10:18].strip(),
                    columns[19:28].strip(),
                )
                if usage:
                    fields[f"{attr}Usage"] = float(usage) if attr == "Cpus" else _number(usage)
                if request:
                    fields[f"Request{attr}"] = _number(request)
                if allocated:
                    fields[attr] = _number(allocated)
    return fields


def _ordered(fields: dict[str, Any]) -> dict[str, Any]:
    """HTCondor's event ads list attributes by name length, then name."""
    return {
        k: _ordered(v) if isinstance(v, dict) else v
        for k, v in sorted(fields.items(), key=lambda kv: (len(kv[0]), kv[0]))
    }


def _echo_text(event: events.Event, fmt: str) -> str:
    if "JSON" in fmt:
        fields = _ordered(event_fields(event))
        lines = [f"  {json.dumps(k)}: {classad.to_json_value(v, 1)}" for k, v in fields.items()]
        return "{\n" + ",\n".join(lines) + "\n}\n"
    if "XML" in fmt:
        return _xml_ad(_ordered(event_fields(event)), 0)
    text = event.text
    if "ISO_DATE" in fmt:
        return text
    return _DATE_RE.sub(lambda m: f"{m.group(1)}{m.group(3)}/{m.group(4)} ", text, count=1)


def _xml_ad(fields: dict[str, Any], depth: int) -> str:
    pad = "    " * depth
    text = "<c>\n"
    for key, value in fields.items():
        if isinstance(value, dict):
            inner = _xml_ad(value, depth + 1).rstrip("\n")
            text += f'{pad}    <a n="{key}">{inner}</a>\n'
        else:
            text += f'{pad}    <a n="{key}">{classad.to_xml_value(value)}</a>\n'
    return text + f"{pad}</c>\n"


def main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_wait``."""
    wait_for: float | None = None
    num: int | None = None
    status = False
    echo: str | None = None
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        low = arg.lower()
        if low == "-wait" and i + 1 < len(argv):
            try:
                wait_for = float(argv[i + 1])
            except ValueError:
                err.write(USAGE)
                return 1
            i += 1
        elif low == "-num" and i + 1 < len(argv):
            try:
                num = int(argv[i + 1])
            except ValueError:
                err.write(USAGE)
                return 1
            i += 1
        elif low == "-status":
            status = True
        elif low.startswith("-echo"):
            echo = arg.split(":", 1)[1].upper() if ":" in arg else ""
        elif low in ("-debug", "-allevents", "-all"):
            pass
        elif low == "-version":
            out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
            return 1
        elif low.startswith("-"):
            err.write(USAGE)
            return 1
        else:
            positional.append(arg)
        i += 1
    if not positional or len(positional) > 2:
        err.write(USAGE)
        return 1
    path = positional[0]
    want: tuple[int, int | None, int | None] | None = None
    if len(positional) == 2:
        m = re.match(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$", positional[1])
        if not m:
            err.write(f"Couldn't understand job number: {positional[1]}\n")
            return 1
        want = (
            int(m.group(1)),
            int(m.group(2)) if m.group(2) else None,
            int(m.group(3)) if m.group(3) else None,
        )
    try:
        fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        err.write(f"Couldn't open {path}: {exc.strerror}\n")
        return 1
    deadline = None if wait_for is None else time.monotonic() + wait_for
    state = State()
    buffer = ""
    submitted: set[tuple[int, int, int]] = set()
    finished: set[tuple[int, int, int]] = set()
    checked_scheduler = False
    with fh:
        while True:
            buffer += fh.read()
            parsed, used = events.parse_text(buffer)
            buffer = buffer[used:]
            for ev in parsed:
                key = (ev.cluster, ev.proc, ev.subproc)
                if want is not None:
                    if ev.cluster != want[0]:
                        continue
                    if want[1] is not None and ev.proc != want[1]:
                        continue
                    if want[2] is not None and ev.subproc != want[2]:
                        continue
                if echo is not None:
                    out.write(_echo_text(ev, echo))
                if ev.code == 0:
                    submitted.add(key)
                if ev.code in (5, 9):
                    finished.add(key)
                if status:
                    jid = f"{ev.cluster}.{ev.proc}.{ev.subproc}"
                    if ev.code == 0:
                        out.write(f"{jid} submitted\n")
                    elif ev.code == 1:
                        host = ev.first_line_rest.replace("Job executing on host: ", "")
                        out.write(f"{jid} executing on host {host}\n")
                    elif ev.code == 5:
                        out.write(f"{jid} completed\n")
                    elif ev.code == 9:
                        out.write(f"{jid} aborted\n")
            out.flush()
            if num is not None:
                if len(finished) >= num:
                    out.write(f"Specifed number of jobs ({num}) done.\n")
                    return 0
            elif submitted <= finished:
                out.write("All jobs done.\n")
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                out.write("Time expired.\n")
                return 1
            if not checked_scheduler:
                checked_scheduler = True
                if state.read_queue().jobs:
                    state.ensure_scheduler()
            time.sleep(0.05)
