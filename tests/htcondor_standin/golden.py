"""Reader of the HTCondor golden transcripts and the normalisation used to compare with them.

The transcripts (``tests/fixtures/htcondor/*.txt``, format described in their README)
hold ``=== CASE`` blocks (a command with its exit code, stdout and stderr) and ``=== FILE``
blocks (file contents).  :func:`normalise` rewrites only the values the golden README lists as
varying between runs: hostname/ports/sinful strings, pids, scratch directory names, dates and
times (including Unix times and durations), sizes and CPU usage, and the ``/srv`` paths.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

NO_NEWLINE = "\\ No newline at end"


@dataclass
class Case:
    """One ``=== CASE`` block."""

    id: str
    title: str
    note: str = ""
    when: str = ""
    command: str = ""
    exit: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FileBlock:
    """One ``=== FILE`` block."""

    id: str
    path: str
    note: str = ""
    content: str = ""


@dataclass
class Transcript:
    """All blocks of one golden file, in order."""

    name: str
    cases: list[Case] = field(default_factory=list)
    files: list[FileBlock] = field(default_factory=list)


def _decode(lines: list[str]) -> str:
    """Turn ``$``-terminated transcript lines back into text."""
    out: list[str] = []
    for n, line in enumerate(lines):
        if line == NO_NEWLINE:
            continue
        if n + 1 < len(lines) and lines[n + 1] == NO_NEWLINE:
            out.append(line)
        elif line.endswith("$"):
            out.append(line[:-1] + "\n")
        else:
            raise ValueError(f"transcript line without '$': {line!r}")
    return "".join(out)


def parse_transcript(text: str, name: str = "") -> Transcript:
    """Parse the text of one golden ``*.txt`` file."""
    result = Transcript(name=name)
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^=== (CASE|FILE) ([^:]+): (.*)$", line)
        if not m:
            i += 1
            continue
        kind, block_id, rest = m.groups()
        i += 1
        meta: dict[str, str] = {}
        while i < len(lines) and not lines[i].startswith("--- "):
            key, _, value = lines[i].partition(": ")
            meta[key.rstrip(":")] = value
            i += 1
        sections: dict[str, list[str]] = {}
        current = ""
        while i < len(lines) and lines[i] != "=== END":
            marker = re.match(r"^--- (STDOUT|STDERR|CONTENT) ---$", lines[i])
            if marker:
                current = marker.group(1)
                sections[current] = []
            else:
                sections[current].append(lines[i])
            i += 1
        i += 1
        if kind == "CASE":
            result.cases.append(
                Case(
                    id=block_id,
                    title=rest,
                    note=meta.get("NOTE", ""),
                    when=meta.get("WHEN", ""),
                    command=meta.get("COMMAND", ""),
                    exit=int(meta.get("EXIT", "0")),
                    stdout=_decode(sections.get("STDOUT", [])),
                    stderr=_decode(sections.get("STDERR", [])),
                )
            )
        else:
            result.files.append(
                FileBlock(
                    id=block_id,
                    path=rest,
                    note=meta.get("NOTE", ""),
                    content=_decode(sections.get("CONTENT", [])),
                )
            )
    return result


def load_all(directory: str) -> dict[str, Transcript]:
    """Parse every ``*.txt`` transcript in ``directory`` (keyed by family, e.g. ``q``)."""
    result = {}
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".txt"):
            with open(os.path.join(directory, entry), encoding="utf-8") as fh:
                result[entry[:-4]] = parse_transcript(fh.read(), entry[:-4])
    return result


# --------------------------------------------------------------------------- normalisation

GOLDEN_WORK = "/srv/condor-golden/work"
GOLDEN_LOCAL = "/srv/condor-research/personal/local"
GOLDEN_BIN = "/srv/condor-research/install/bin"

_SIZE_ATTRS = (
    "DiskUsage|DiskUsage_RAW|ExecutableSize|ExecutableSize_RAW|ImageSize|ImageSize_RAW|"
    "ResidentSetSize|ResidentSetSize_RAW|TransferInputSizeMB|BytesRecvd|BytesSent|"
    "InitialWaitDuration|StatsLifetimeStarter|RecentStatsLifetimeStarter|CpusUsage|Size|"
    "MemoryUsage|DiskProvisioned|DiskUsage|TimeExecuteUsage|TimeSlotBusyUsage"
)
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"<127\.0\.0\.1:\d+\?addrs=127\.0\.0\.1-\d+&(amp;)?alias=[\w.-]+>"), "<SINFUL>"),
    (re.compile(r"&lt;127\.0\.0\.1:\d+\?addrs=127\.0\.0\.1-\d+&amp;alias=[\w.-]+&gt;"), "<SINFUL>"),
    (re.compile(r"<127\.0\.0\.1:\d+\?\.\.\."), "<SINFUL..."),
    (re.compile(r"<0\.0\.0\.0:\d+>"), "<ANY:PORT>"),
    (re.compile(r"\bdir_\d+\b"), "dir_N"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\b"), "DATE"),
    (re.compile(r"\b\d{2}/\d{2}/(\d{2}|\d{4}) \d{2}:\d{2}:\d{2}\b"), "DATE"),
    (re.compile(r"\b\d{2}/\d{2} \d{2}:\d{2}(:\d{2})?\b"), "DATE"),
    (re.compile(r"\b\d+\+\d{2}:\d{2}:\d{2}\b"), "DURATION"),
    (re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b"), "UNIXTIME"),
    (re.compile(r"\b(pid|PID =) \d+"), r"\1 N"),
    (re.compile(r"(RealUID = )\d+"), r"\1N"),
    (re.compile(rf'^(\s*"?(?:{_SIZE_ATTRS})"?\s*[=:]\s*)[\d.]+', re.M), r"\1SIZE"),
    (re.compile(r"(Image size of job updated: )\d+"), r"\1SIZE"),
    (re.compile(rf'(<a n="(?:{_SIZE_ATTRS})"><[ir]>)[\d.]+'), r"\1SIZE"),
    (re.compile(r"^\t\d+(  -  (MemoryUsage|ResidentSetSize) of job)", re.M), r"\tSIZE\1"),
    (re.compile(r"^\t\d+(  -  (Run|Total) Bytes)", re.M), r"\tSIZE\1"),
]
_NOBATCH_SIZE = re.compile(r"^(\s*\d+\.\d+\s+\S+\s+DATE\s+DURATION [A-Z>] +\d+) +\d+\.\d( )", re.M)
_RESOURCES = re.compile(r"^\t   ([A-Za-z][A-Za-z ()]*?)\s+:(.*)$", re.M)
_STATUS_ROW = re.compile(r"^(slot\S+\s+LINUX\s+X86_64\s+\S+\s+\S+\s+)[\d.]+\s+\d+", re.M)


def _resources_row(m: re.Match[str]) -> str:
    name, rest = m.group(1), m.group(2).split()
    if name.startswith("Time"):
        return f"\t   {name} : USAGE"
    return f"\t   {name} : USAGE {' '.join(rest[-2:])}"


def normalise(text: str, paths: dict[str, str] | None = None) -> str:
    """Rewrite the varying values of HTCondor output into fixed placeholders.

    ``paths`` maps actual paths (longest first is not required) to their golden ``/srv``
    equivalents; it is applied before the pattern rules.
    """
    for actual, golden in sorted((paths or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(actual, golden)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    text = _NOBATCH_SIZE.sub(r"\1 SIZE\2", text)
    text = _RESOURCES.sub(_resources_row, text)
    text = _STATUS_ROW.sub(r"\1LOAD MEM", text)
    return text
