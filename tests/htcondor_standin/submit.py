"""``condor_submit`` of the HTCondor test stand-in (not HTCondor).

Supported: ``condor_submit [-terse] [-verbose] [-batch-name N] [-append L] [-queue Q]
[-dry-run F] [attr=value ...] [file | - ]`` (no file: read stdin).  The submit language subset:
``key = value`` commands (case-insensitive keys, ``\\`` continuation, ``#`` comments), macros
``$(Cluster)``/``$(ClusterId)``/``$(Process)``/``$(ProcId)``/``$(Step)``/``$(Item)``/any defined
key/``$ENV(X)``/``$(X:default)``, ``+Attr``/``MY.Attr`` custom attributes, and
``queue [N] [var[,var...] in|from|matching (...)]``.  Arguments in both syntaxes (old plain
whitespace-separated ones are stored in ``Args``, new double-quoted ones in ``Arguments``).
"""

from __future__ import annotations

import glob
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from htcondor_standin import classad, events
from htcondor_standin.classad import UNDEFINED, Expr
from htcondor_standin.state import (
    PLATFORM_LINE,
    STATUS_HELD,
    STATUS_IDLE,
    UNIVERSE_SCHEDULER,
    VERSION_LINE,
    Config,
    Job,
    State,
    now,
)

REQUIREMENTS = (
    '(TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && '
    '(versionGE(split(TARGET.CondorVersion)[1],"25.12.0") || (TARGET.Disk >= RequestDisk)) && '
    "(TARGET.Memory >= RequestMemory) && ((TARGET.FileSystemDomain == MY.FileSystemDomain) || "
    "(TARGET.HasFileTransfer))"
)
DEFAULT_REQUEST_DISK = "MAX({ 1024,(TransferInputSizeMB + 1) * 1.25 }) * 1024"

USAGE = """Usage: condor_submit [options] [<attrib>=<value>] [- | <submit-file>]
    [options] are
\t-file <submit-file>\tRead Submit commands from <submit-file>
\t-terse  \t\tDisplay terse output, jobid ranges only
\t-verbose\t\tDisplay verbose output, jobid and full job ClassAd
\t-capabilities\t\tDisplay configured capabilities of the schedd
\t-debug  \t\tDisplay debugging output
\t-append <line>\t\tadd line to submit file before processing
\t              \t\t(overrides submit file; multiple -a lines ok)
\t-queue <queue-opts>\tappend Queue statement to submit file before processing
\t                   \t(submit file must not already have a Queue or Iterate)
\t-batch-name <name>\tappend a line to submit file that sets the batch name
\t-disable\t\tdisable file permission checks
\t-dry-run <filename>\tprocess submit file and write ClassAd attributes to <filename>
\t        \t\tbut do not actually submit the job(s) to the SCHEDD
\t-maxjobs <maxjobs>\tDo not submit if number of jobs would exceed <maxjobs>.
\t-single-cluster\t\tDo not submit if more than one ClusterId is needed.
\t-unused\t\t\ttoggles unused or unexpanded macro warnings
\t       \t\t\t(overrides config file; multiple -u flags ok)
\t-allow-crlf-script\tAllow submitting #! executable script with DOS/CRLF line endings
\t-dump <filename>\tWrite job ClassAds to <filename> instead of
\t                \tsubmitting to a schedd.
\t-interactive\t\tsubmit an interactive session job
\t-factory\t\tSubmit a late materialization job factory
\t-name <name>\t\tsubmit to the specified schedd
\t-remote <name>\t\tsubmit to the specified remote schedd
\t              \t\t(implies -spool)
\t-addr <ip:port>\t\tsubmit to schedd at given "sinful string"
\t-spool\t\t\tspool all files to the schedd
\t-pool <host>\t\tUse host as the central manager to query
\t<attrib>=<value>\tSet <attrib>=<value> before reading the submit file.

    If <submit-file> is omitted or is -, and a -queue is not provided, submit commands
     are read from stdin. Use of - implies verbose output unless -terse is specified
"""


class SubmitError(Exception):
    """A condor_submit failure; ``text`` goes to stderr as is."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# --------------------------------------------------------------------------- arguments


def parse_args_v2_raw(raw: str) -> list[str]:
    """Split new-syntax (V2) raw arguments: whitespace separates, ``'...'`` groups, ``''``
    inside single quotes is a literal single quote."""
    args: list[str] = []
    cur: list[str] = []
    have = False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c in " \t\n":
            if have:
                args.append("".join(cur))
                cur, have = [], False
            i += 1
            continue
        if c == "'":
            have = True
            i += 1
            while True:
                if i >= len(raw):
                    raise SubmitError(
                        "ERROR: Unterminated single-quote.\n"
                        f"The full arguments you specified were: {raw}\n"
                    )
                if raw[i] == "'":
                    if i + 1 < len(raw) and raw[i + 1] == "'":
                        cur.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                cur.append(raw[i])
                i += 1
            continue
        cur.append(c)
        have = True
        i += 1
    if have:
        args.append("".join(cur))
    return args


def join_args_v2(args: list[str]) -> str:
    """The canonical V2 raw form HTCondor stores in ``Arguments``."""
    out = []
    for arg in args:
        if arg == "":
            out.append("''")
            continue
        # Like HTCondor: each white-space or ' character is quoted, and a run of
        # them shares one quoted section (quoting them one by one, '''' next to
        # ' ' reads back wrongly).
        text = ""
        for c in arg:
            if c in " \t\n'":
                text = text[:-1] if text.endswith("'") else text + "'"
                text += ("''" if c == "'" else c) + "'"
            else:
                text += c
        out.append(text)
    return " ".join(out)


def parse_args_v1(raw: str) -> list[str]:
    """Split old-syntax (V1) arguments: whitespace separates, ``\\"`` is a double quote."""
    return [a.replace('\\"', '"') for a in raw.split()]


def submit_arguments(value: str) -> tuple[str, Any]:
    """Attribute name and value for an ``arguments`` submit command."""
    stripped = value.strip()
    if stripped.startswith('"'):
        body = stripped[1:]
        inner: list[str] = []
        i = 0
        closed = False
        while i < len(body):
            c = body[i]
            if c == '"':
                if i + 1 < len(body) and body[i + 1] == '"':
                    inner.append('"')
                    i += 2
                    continue
                closed = True
                rest = body[i + 1 :].strip()
                if rest:
                    raise SubmitError(
                        "ERROR: Unexpected characters following double-quote.\n"
                        f"The full arguments you specified were: {stripped}\n"
                    )
                break
            inner.append(c)
            i += 1
        if not closed:
            raise SubmitError(
                "ERROR: Unterminated double-quote.\n"
                f"The full arguments you specified were: {stripped}\n"
            )
        return "Arguments", join_args_v2(parse_args_v2_raw("".join(inner)))
    return "Args", " ".join(parse_args_v1(stripped))


def job_argv(ad: dict[str, Any]) -> list[str]:
    """The argument list a job's process gets."""
    arguments = ad.get("Arguments")
    if isinstance(arguments, str):
        return parse_args_v2_raw(arguments)
    args = ad.get("Args")
    if isinstance(args, str):
        return parse_args_v1(args)
    return []


def parse_environment(value: str) -> dict[str, str]:
    """Parse an ``environment`` value (new double-quoted or old ``;``-separated syntax)."""
    value = value.strip()
    result: dict[str, str] = {}
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        items = parse_args_v2_raw(value[1:-1].replace('""', '"'))
    else:
        items = [p for p in value.split(";") if p]
    for item in items:
        if "=" in item:
            k, v = item.split("=", 1)
            result[k.strip()] = v
    return result


# --------------------------------------------------------------------------- submit file


@dataclass
class QueueStatement:
    """One ``queue`` statement with the item rows it expands to."""

    line: int
    count: int
    variables: list[str]
    items: list[list[str]]


@dataclass
class SubmitDescription:
    """A parsed submit description: ordered commands and queue statements."""

    steps: list[tuple[str, Any]] = field(default_factory=list)


_CMD_RE = re.compile(r"^\s*([+A-Za-z_][A-Za-z0-9_.+-]*)\s*=(.*)$")
_QUEUE_RE = re.compile(r"^\s*queue\b(.*)$", re.IGNORECASE)


def _split_items(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,]+", text.strip()) if p]


def parse_queue_args(rest: str, line_no: int, more_lines: list[str]) -> QueueStatement:
    """Parse what follows ``queue``; ``more_lines`` feeds multi-line ``in (...)`` lists."""
    rest = rest.strip()
    count = 1
    m = re.match(r"^(\d+)\s*(.*)$", rest)
    if m:
        count = int(m.group(1))
        rest = m.group(2)
    if not rest:
        return QueueStatement(line_no, count, [], [[]])
    m = re.match(r"^(.*?)\b(in|from|matching)\b\s*(.*)$", rest, re.IGNORECASE | re.DOTALL)
    if not m:
        raise SubmitError(f"invalid queue statement: {rest}")
    variables = [v for v in re.split(r"[\s,]+", m.group(1).strip()) if v] or ["Item"]
    keyword = m.group(2).lower()
    tail = m.group(3).strip()
    rows: list[str]
    if tail.startswith("("):
        body = tail[1:]
        while ")" not in body:
            if not more_lines:
                raise SubmitError(
                    "Reached end of file without finding closing brace ')' for Queue command "
                    f"on line {line_no}"
                )
            body += "\n" + more_lines.pop(0)
        body = body[: body.index(")")]
        rows = [r for r in body.splitlines() if r.strip()]
        if keyword == "in":
            rows = _split_items(body)
    elif keyword == "from":
        try:
            with open(tail, encoding="utf-8") as fh:
                rows = [r.rstrip("\n") for r in fh if r.strip()]
        except OSError as exc:
            raise SubmitError(f"could not open item file {tail}: {exc.strerror}") from exc
    elif keyword == "in":
        rows = _split_items(tail)
    else:
        rows = _split_items(tail)
    if keyword == "matching":
        matched: list[str] = []
        for pattern in rows:
            matched.extend(sorted(glob.glob(pattern)))
        rows = matched
    items = []
    for row in rows:
        if len(variables) == 1:
            items.append([row.strip()])
        else:
            parts = [p for p in re.split(r"[\s,]+", row.strip()) if p]
            items.append((parts + [""] * len(variables))[: len(variables)])
    return QueueStatement(line_no, count, variables, items)


def parse_description(text: str, name: str) -> SubmitDescription:
    """Parse submit description text (``name`` is used in error messages)."""
    desc = SubmitDescription()
    raw_lines = text.splitlines()
    # join continuation lines, remembering the first line number
    joined: list[tuple[int, str]] = []
    i = 0
    while i < len(raw_lines):
        start = i
        line = raw_lines[i]
        while line.rstrip().endswith("\\") and i + 1 < len(raw_lines):
            line = line.rstrip()[:-1] + " " + raw_lines[i + 1].strip()
            i += 1
        joined.append((start + 1, line))
        i += 1
    pending = list(joined)
    while pending:
        line_no, line = pending.pop(0)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        qm = _QUEUE_RE.match(stripped)
        if qm:
            more = [ln for _, ln in pending]
            before = len(more)
            try:
                stmt = parse_queue_args(qm.group(1), line_no, more)
            except SubmitError as exc:
                raise SubmitError(
                    f"\nERROR: on Line {line_no} of {name}: {exc.text}\n\n"
                    f"ERROR: Failed to parse command file (line {line_no}).\n"
                ) from exc
            del pending[: before - len(more)]
            desc.steps.append(("queue", stmt))
            continue
        cm = _CMD_RE.match(line)
        if not cm:
            raise SubmitError(
                f"\nERROR: on Line {line_no} of {name}: \n\n"
                f"ERROR: Failed to parse command file (line {line_no}).\n"
            )
        desc.steps.append(("set", (cm.group(1), cm.group(2).strip())))
    return desc


# --------------------------------------------------------------------------- macro expansion

_MACRO_RE = re.compile(r"\$(ENV)?\(([^()$]*)\)", re.IGNORECASE)


def expand(value: str, variables: dict[str, str], depth: int = 0) -> str:
    """Expand ``$(name)`` macros in ``value`` (keys of ``variables`` are lower case)."""
    if depth > 20 or "$" not in value:
        return value

    def repl(m: re.Match[str]) -> str:
        inner = m.group(2)
        if m.group(1):
            return os.environ.get(inner, "")
        default = None
        if ":" in inner:
            inner, default = inner.split(":", 1)
        key = inner.strip().lower()
        if key == "dollar":
            return "$"  # HTCondor's predefined macro for a literal "$"
        if key in variables:
            return expand(variables[key], variables, depth + 1)
        if default is not None:
            return default
        return ""

    return _MACRO_RE.sub(repl, value)


def _size_value(text: str, default_unit: str) -> int:
    """Parse ``64M`` style sizes; result in the default unit's base (MB for memory, KB disk)."""
    m = re.match(r"^\s*([0-9.]+)\s*([KMGTkmgt]?)[Bb]?\s*$", text)
    if not m:
        raise SubmitError(f"\nERROR: invalid size value {text}\n")
    number = float(m.group(1))
    unit = (m.group(2) or default_unit).upper()
    kb = number * {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}[unit]
    if default_unit == "M":
        return int(math.ceil(kb / 1024))
    return int(math.ceil(kb))


def _bool_text(text: str) -> bool:
    return text.strip().lower() in ("true", "yes", "1", "t", "y")


def _file_kb(path: str) -> int:
    try:
        return max(1, int(math.ceil(os.path.getsize(path) / 1024)))
    except OSError:
        return 1


@dataclass
class BuildContext:
    """Inputs for building job ads from a description."""

    config: Config
    cwd: str
    submit_file: str | None
    cluster: int
    qdate: float
    overrides: list[tuple[str, str]] = field(default_factory=list)
    extra_attrs: dict[str, Any] = field(default_factory=dict)
    nodes_log: str | None = None


def build_ads(desc: SubmitDescription, ctx: BuildContext) -> list[tuple[dict[str, Any], dict]]:
    """Build the job ads (and private job data) for all queue statements."""
    variables: dict[str, str] = {}
    custom: dict[str, str] = {}
    for key, value in ctx.overrides:
        _set_var(key, value, variables, custom)
    results: list[tuple[dict[str, Any], dict]] = []
    proc = 0
    saw_queue = False
    for kind, payload in desc.steps:
        if kind == "set":
            key, value = payload
            _set_var(key, value, variables, custom)
            continue
        saw_queue = True
        stmt: QueueStatement = payload
        for row in stmt.items:
            for step in range(stmt.count):
                local = dict(variables)
                for var, val in zip(stmt.variables, row, strict=False):
                    local[var.lower()] = val
                local.update(
                    {
                        "cluster": str(ctx.cluster),
                        "clusterid": str(ctx.cluster),
                        "process": str(proc),
                        "procid": str(proc),
                        "step": str(step),
                        "row": str(stmt.items.index(row)),
                    }
                )
                if "item" not in local:
                    local["item"] = ""
                results.append(_build_one(local, custom, ctx, proc))
                proc += 1
    if not saw_queue:
        if "executable" not in variables:
            raise SubmitError("ERROR: No 'executable' parameter was provided\n")
        return []
    return results


def _set_var(key: str, value: str, variables: dict[str, str], custom: dict[str, str]) -> None:
    if key.startswith("+"):
        custom[key[1:]] = value
    elif key.lower().startswith("my."):
        custom[key[3:]] = value
    else:
        variables[key.lower()] = value


def _build_one(
    local: dict[str, str], custom: dict[str, str], ctx: BuildContext, proc: int
) -> tuple[dict[str, Any], dict]:
    def get(name: str) -> str | None:
        if name not in local:
            return None
        return expand(local[name], local).strip()

    cfg = ctx.config
    universe_name = (get("universe") or "vanilla").lower()
    universe = {"vanilla": 5, "scheduler": 7, "local": 12, "standard": 1}.get(universe_name, 5)
    exe = get("executable")
    if not exe:
        raise SubmitError("ERROR: No 'executable' parameter was provided\n")
    initialdir = get("initialdir") or get("initial_dir")
    iwd = os.path.normpath(os.path.join(ctx.cwd, initialdir)) if initialdir else ctx.cwd
    cmd = exe if os.path.isabs(exe) else os.path.normpath(os.path.join(iwd, exe))
    if not os.path.exists(cmd):
        raise SubmitError(
            f"\nERROR: Can't access executable file {exe}: No such file or directory\n"
        )
    exe_kb = _file_kb(cmd)
    when = int(ctx.qdate)
    ad: dict[str, Any] = {
        "ClusterId": ctx.cluster,
        "Cmd": cmd,
        "CommittedSlotTime": 0,
        "CommittedSuspensionTime": 0,
        "CommittedTime": 0,
        "CondorPlatform": PLATFORM_LINE,
        "CondorVersion": VERSION_LINE,
        "CumulativeRemoteSysCpu": 0.0,
        "CumulativeRemoteUserCpu": 0.0,
        "CumulativeSlotTime": 0,
        "CumulativeSuspensionTime": 0,
        "CurrentHosts": 0,
        "DiskUsage": exe_kb,
        "EnteredCurrentStatus": when,
        "Environment": "",
        "ExecutableSize": exe_kb,
        "ExitBySignal": False,
        "ExitStatus": 0,
        "FileSystemDomain": cfg.hostname,
        "ImageSize": exe_kb,
        "In": "/dev/null",
        "Iwd": iwd,
        "JobLeaseDuration": 2400,
        "JobNotification": 0,
        "JobPrio": 0,
        "JobStatus": STATUS_IDLE,
        "JobSubmitMethod": 0,
        "JobUniverse": universe,
        "LastSuspensionTime": 0,
        "LeaveJobInQueue": False,
        "MaxHosts": 1,
        "MinHosts": 1,
        "MyType": "Job",
        "NumCkpts": 0,
        "NumJobCompletions": 0,
        "NumJobStarts": 0,
        "NumRestarts": 0,
        "NumSystemHolds": 0,
        "Owner": UNDEFINED,
        "ProcId": proc,
        "QDate": when,
        "Rank": 0.0,
        "RemoteSysCpu": 0.0,
        "RemoteUserCpu": 0.0,
        "RemoteWallClockTime": 0.0,
        "RequestCpus": 1,
        "RequestDisk": 1024,
        "RequestMemory": 128,
        "Requirements": Expr(REQUIREMENTS),
        "ShouldTransferFiles": "IF_NEEDED",
        "SubmitVersion": VERSION_LINE,
        "TargetType": "Machine",
        "TotalSuspensions": 0,
        "TransferIn": False,
        "TransferInputSizeMB": 1,
        "WhenToTransferOutput": "ON_EXIT",
    }
    if ctx.submit_file:
        ad["JobSubmitFile"] = ctx.submit_file
    args = get("arguments") if "arguments" in local else get("args")
    if args is not None and args != "":
        name, value = submit_arguments(args)
        ad[name] = value
    for key, attr, transfer_attr, stream_attr in (
        ("output", "Out", "TransferOut", "StreamOut"),
        ("error", "Err", "TransferErr", "StreamErr"),
    ):
        value = get(key)
        if value:
            ad[attr] = value
            ad[stream_attr] = _bool_text(get(f"stream_{key}") or "false")
        else:
            ad[attr] = "/dev/null"
            ad[transfer_attr] = False
            if get(f"stream_{key}"):
                ad[stream_attr] = _bool_text(get(f"stream_{key}") or "false")
    input_file = get("input")
    if input_file:
        ad["In"] = input_file
    if ctx.nodes_log:
        ad["DAGManNodesLog"] = ctx.nodes_log
    log = get("log")
    if log:
        ad["UserLog"] = log if os.path.isabs(log) else os.path.normpath(os.path.join(iwd, log))
    memory = get("request_memory")
    if memory:
        ad["RequestMemory"] = _size_value(memory, "M")
    disk = get("request_disk")
    if disk:
        ad["RequestDisk"] = _size_value(disk, "K")
    else:
        ad["RequestDisk"] = Expr(DEFAULT_REQUEST_DISK)
    cpus = get("request_cpus")
    if cpus:
        ad["RequestCpus"] = int(float(cpus))
    for key in list(local):
        if key.startswith("request_") and key not in (
            "request_memory",
            "request_disk",
            "request_cpus",
        ):
            attr = "Request" + key[len("request_") :].capitalize()
            ad[attr] = classad.parse_value(get(key) or "0")
    stf = get("should_transfer_files")
    if stf:
        ad["ShouldTransferFiles"] = stf.upper()
    wtto = get("when_to_transfer_output")
    if wtto:
        ad["WhenToTransferOutput"] = wtto.upper()
    tif = get("transfer_input_files")
    input_kb = 0
    if tif:
        files = [p.strip() for p in tif.split(",") if p.strip()]
        ad["TransferInput"] = ",".join(files)
        for f in files:
            input_kb += _file_kb(f if os.path.isabs(f) else os.path.join(iwd, f))
        ad["TransferInputSizeMB"] = max(1, int(math.ceil((input_kb + exe_kb) / 1024)))
    requirements = get("requirements")
    if requirements:
        ad["Requirements"] = Expr(f"({requirements}) && {REQUIREMENTS}")
    texe = get("transfer_executable")
    if texe:
        ad["TransferExecutable"] = _bool_text(texe)
    tof = get("transfer_output_files")
    if tof is not None:
        ad["TransferOutput"] = ",".join(p.strip() for p in tof.split(",") if p.strip())
    for key, attr in (
        ("transfer_output_remaps", "TransferOutputRemaps"),
        ("accounting_group", "AcctGroup"),
        ("description", "JobDescription"),
    ):
        value = get(key)
        if value:
            ad[attr] = value
    batch = get("batch_name") or get("jobbatchname")
    if batch:
        ad["JobBatchName"] = batch
    priority = get("priority")
    if priority:
        ad["JobPrio"] = int(priority)
    environment = get("environment") or get("env")
    if environment:
        env_map = parse_environment(environment)
        ad["Environment"] = join_args_v2([f"{k}={v}" for k, v in env_map.items()])
    for key, attr in (
        ("on_exit_remove", "OnExitRemove"),
        ("on_exit_hold", "OnExitHold"),
        ("periodic_remove", "PeriodicRemove"),
        ("periodic_hold", "PeriodicHold"),
        ("periodic_release", "PeriodicRelease"),
    ):
        value = get(key)
        if value:
            try:
                ad[attr] = classad.parse_value(value)
            except classad.ParseError:
                ad[attr] = Expr(value)
    for name, value in custom.items():
        text = expand(value, local)
        try:
            ad[name] = classad.parse_value(text)
        except classad.ParseError:
            ad[name] = Expr(text)
    ad.update(ctx.extra_attrs)
    private: dict[str, Any] = {"submit_time": ctx.qdate}
    getenv = get("getenv")
    if getenv:
        if getenv.lower() in ("true", "yes", "1"):
            private["env"] = dict(os.environ)
        elif getenv.lower() not in ("false", "no", "0"):
            pats = [p.strip() for p in getenv.split(",") if p.strip()]
            private["env"] = {
                k: v
                for k, v in os.environ.items()
                if any(re.fullmatch(p.replace("*", ".*"), k) for p in pats)
            }
    hold = get("hold")
    if hold and _bool_text(hold):
        ad["JobStatus"] = STATUS_HELD
        ad["HoldReason"] = "submitted on hold at user's request"
        ad["HoldReasonCode"] = 15
        ad["HoldReasonSubCode"] = 0
    return ad, private


def queue_time_attrs(ad: dict[str, Any], config: Config) -> None:
    """Attributes the schedd adds when a job enters the queue."""
    ad["Owner"] = config.user
    ad["User"] = f"{config.user}@{config.hostname}"
    ad["GlobalJobId"] = f"{config.schedd_name}#{ad['ClusterId']}.{ad['ProcId']}#{ad['QDate']}"
    ad["AutoClusterAttrs"] = (
        "CatalogID,catalogs,CatalogSize,RequestCpus,RequestDisk,RequestedCatalogIDs,"
        "RequestedCatalogs,RequestMemory,ConcurrencyLimits,FlockTo,Rank,Requirements,"
        "FileSystemDomain"
    )
    ad["AutoClusterId"] = 1
    for attr in ("DiskUsage", "ExecutableSize", "ImageSize", "NumCkpts"):
        if attr in ad:
            ad[f"{attr}_RAW"] = ad[attr]


def submit_description(
    state: State,
    desc: SubmitDescription,
    cwd: str,
    submit_file: str | None,
    overrides: list[tuple[str, str]] | None = None,
    extra_attrs: dict[str, Any] | None = None,
    nodes_log: str | None = None,
    private_extra: dict[str, Any] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Queue the jobs of ``desc``; returns the cluster id and the submit-time ads.

    ``overrides`` are commands set before the description (``attr=value`` arguments, DAG
    ``VARS``), ``extra_attrs`` are added to every ad, ``nodes_log`` (DAGMan's node log) gets the
    jobs' events in addition to their own ``log``.  Raises :class:`SubmitError` (nothing is
    queued and no cluster id is used up then).
    """
    cfg = state.config
    with state.lock():
        queue = state._load()
        cluster = queue.next_cluster
        qdate = now()
        ctx = BuildContext(
            config=cfg,
            cwd=cwd,
            submit_file=submit_file,
            cluster=cluster,
            qdate=qdate,
            overrides=overrides or [],
            extra_attrs=extra_attrs or {},
            nodes_log=nodes_log,
        )
        built = build_ads(desc, ctx)
        if not built:
            raise SubmitError("ERROR: No jobs were queued\n")
        submit_ads = [dict(ad) for ad, _ in built]
        texts: dict[str, str] = {}
        for ad, private in built:
            queue_time_attrs(ad, cfg)
            ad["TotalSubmitProcs"] = len(built)
            if private_extra:
                private.update(private_extra)
            queue.jobs.append(Job(ad=ad, sys=private))
            for log in events.job_logs(ad):
                extra = {}
                for attr in ("DAGNodeName", "JobBatchName"):
                    if isinstance(ad.get(attr), str):
                        extra[attr] = ad[attr]
                texts[log] = texts.get(log, "") + events.submit(
                    cluster, ad["ProcId"], qdate, cfg.schedd_sinful, extra
                )
                if ad.get("JobStatus") == STATUS_HELD:
                    texts[log] += events.held(cluster, ad["ProcId"], qdate, ad["HoldReason"], 15, 0)
        queue.next_cluster = cluster + 1
        state._save(queue)
        for log, text in texts.items():
            events.append(log, text)
    state.ensure_scheduler()
    return cluster, submit_ads


# --------------------------------------------------------------------------- command line


def _usage(err: TextIO) -> int:
    err.write(USAGE)
    return 1


def main(argv: list[str], stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_submit``."""
    terse = False
    verbose = False
    from_stdin_dash = False
    dry_run: str | None = None
    file_arg: str | None = None
    appends: list[str] = []
    queue_opt: str | None = None
    overrides: list[tuple[str, str]] = []
    i = 0
    value_opts = {"-name", "-pool", "-remote", "-addr", "-maxjobs", "-dump", "-factory"}
    while i < len(argv):
        arg = argv[i]
        if arg == "-":
            from_stdin_dash = True
        elif arg.startswith("-") and len(arg) > 1:
            opt = arg.lower()
            if opt in ("-terse",):
                terse = True
            elif opt in ("-verbose", "-v"):
                verbose = True
            elif opt in ("-batch-name", "-batch_name"):
                if i + 1 >= len(argv):
                    return _usage(err)
                appends.append(f"batch_name = {argv[i + 1]}")
                i += 1
            elif opt in ("-append", "-a"):
                if i + 1 >= len(argv):
                    return _usage(err)
                appends.append(argv[i + 1])
                i += 1
            elif opt in ("-queue", "-q"):
                if i + 1 >= len(argv):
                    return _usage(err)
                queue_opt = argv[i + 1]
                i += 1
            elif opt in ("-file", "-f"):
                if i + 1 >= len(argv):
                    return _usage(err)
                file_arg = argv[i + 1]
                i += 1
            elif opt in ("-dry-run", "-dry"):
                if i + 1 >= len(argv):
                    return _usage(err)
                dry_run = argv[i + 1]
                i += 1
            elif opt in value_opts:
                i += 1
            elif opt in ("-spool", "-disable", "-debug", "-unused", "-single-cluster", "-d"):
                pass
            elif opt in ("-help", "-h"):
                return _usage(err)
            else:
                return _usage(err)
        elif "=" in arg and file_arg is None:
            key, value = arg.split("=", 1)
            overrides.append((key.strip(), value.strip()))
        else:
            file_arg = arg
        i += 1
    if from_stdin_dash and not terse:
        verbose = True
    name = file_arg or "<stdin>"
    if file_arg is not None and file_arg != "-":
        try:
            with open(file_arg, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            err.write(f"\nERROR: Failed to open command file ({file_arg}) ({exc.strerror})\n")
            return 1
    else:
        text = stdin.read()
        file_arg = None
    if appends:
        # -append/-batch-name lines go in before the first queue statement
        lines = text.splitlines()
        idx = next((n for n, ln in enumerate(lines) if _QUEUE_RE.match(ln.strip())), len(lines))
        lines[idx:idx] = appends
        text = "\n".join(lines) + "\n"
    if queue_opt is not None:
        text += f"\nqueue {queue_opt}\n"
    state = State()
    if dry_run is None and not terse:
        if from_stdin_dash:
            out.write("\n")
        elif not verbose:
            out.write("Submitting job(s)")
        else:
            out.write("Submitting job(s)\n")
        out.flush()
    try:
        desc = parse_description(text, name)
        if dry_run is not None:
            return _dry_run(state, desc, file_arg, overrides, dry_run, out)
        cluster, ads = submit_description(state, desc, os.getcwd(), file_arg, overrides=overrides)
    except SubmitError as exc:
        out.flush()
        err.write(exc.text)
        return 1
    if terse:
        out.write(f"{cluster}.0 - {cluster}.{len(ads) - 1}\n")
        return 0
    if verbose:
        for ad in ads:
            out.write(f"** Proc {cluster}.{ad['ProcId']}:\n")
            out.write(classad.format_long(ad))
            out.write("\n")
        if not from_stdin_dash:
            out.write("\n")
        return 0
    out.write("." * len(ads) + "\n")
    out.write(f"{len(ads)} job(s) submitted to cluster {cluster}.\n")
    out.flush()
    err.write(f"To monitor your job(s), run: condor_watch_q -clusters {cluster}\n")
    return 0


def _dry_run(
    state: State,
    desc: SubmitDescription,
    submit_file: str | None,
    overrides: list[tuple[str, str]],
    target: str,
    out: TextIO,
) -> int:
    ctx = BuildContext(
        config=state.config,
        cwd=os.getcwd(),
        submit_file=submit_file,
        cluster=1,
        qdate=now(),
        overrides=overrides,
    )
    built = build_ads(desc, ctx)
    lines = ["Dry-Run job(s)"]
    proc_attrs = ("ProcId", "JobStatus")
    first: dict[str, Any] = {}
    for n, (ad, _) in enumerate(built):
        if n == 0:
            # the cluster ad (ClusterId first, then by name length and name), then the proc ad
            first = ad
            rest = sorted((k for k in ad if k not in ("ClusterId", *proc_attrs)), key=_len_key)
            lines.append(f"ClusterId={classad.unparse(ad['ClusterId'])}")
            lines.extend(f"{k}={classad.unparse(ad[k])}" for k in rest)
            lines.extend(f"{k}={classad.unparse(ad[k])}" for k in proc_attrs)
        else:
            changed = [k for k in ad if k not in proc_attrs and ad[k] != first.get(k)]
            lines.extend(f"{k}={classad.unparse(ad[k])}" for k in (*proc_attrs, *changed))
    text = "\n".join(lines) + "\n" + "." * len(built) + "\n"
    text += f"{len(built)} job(s) dry-run to cluster 1.\n"
    if target == "-":
        out.write(text)
    else:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def _len_key(name: str) -> tuple[int, str]:
    return len(name), name


def is_scheduler_universe(ad: dict[str, Any]) -> bool:
    """Whether the job runs without a slot (scheduler/local universe)."""
    return ad.get("JobUniverse") in (UNIVERSE_SCHEDULER, 12)


if __name__ == "__main__":  # pragma: no cover - used through the bin/ launchers
    sys.exit(main(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))
