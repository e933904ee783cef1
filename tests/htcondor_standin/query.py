"""``condor_q`` and ``condor_history`` of the HTCondor test stand-in (not HTCondor).

Supported condor_q forms: ids (``C``, ``C.P``) and owner names as restrictions,
``-constraint E``, ``-nobatch``/``-batch``, ``-dag``, ``-run``, ``-idle``, ``-hold``,
``-totals``, ``-limit N``, ``-af[:jlhVr,tng] ATTR|EXPR ...``, ``-format FMT ATTR`` (repeatable),
``-long``, ``-json``, ``-xml``, ``-attributes A,B``, ``-wide``, ``-allusers``, ``-userlog F``,
``-version``;
``-name``/``-pool``/``-global`` are accepted and ignored.

Supported condor_history forms: ids and owner names, ``-constraint E``, ``-limit N``/``-match N``,
``-scanlimit N`` (reads only the N newest records, or oldest with ``-forwards``),
``-forwards``/``-backwards``, ``-af...``, ``-format``, ``-long``, ``-json``, ``-jsonl``, ``-xml``,
``-attributes``, ``-userlog FILE``, ``-wide``; ``-name``/``-pool``/``-file`` ignored.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from htcondor_standin import classad, events
from htcondor_standin.classad import UNDEFINED
from htcondor_standin.state import (
    PLATFORM_LINE,
    STATUS_COMPLETED,
    STATUS_HELD,
    STATUS_IDLE,
    STATUS_REMOVED,
    STATUS_RUNNING,
    STATUS_SUSPENDED,
    STATUS_TRANSFERRING_OUTPUT,
    UNIVERSE_SCHEDULER,
    VERSION_LINE,
    Config,
    State,
    now,
)

STATUS_LETTER = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}
UNIVERSE_NAME = {1: "Standard", 5: "Vanilla", 7: "Scheduler", 9: "Grid", 12: "Local"}

Q_USAGE = """Usage: condor_q [general-opts] [restriction-list] [output-opts | analyze-opts]

    [general-opts] are
\t-global\t\t\t Query all Schedulers in this pool
\t-schedd-constraint\t Query all Schedulers matching this constraint
\t-submitter <submitter>\t Get queue of specific submitter
\t-name <name>\t\t Name of Scheduler
\t-pool <host>\t\t Use host as the central manager to query
\t-jobads[:<form>] <file>\t Read queue from a file of job ClassAds
\t           where <form> is one of:
\t       auto    default, guess the format from reading the input stream
\t       long    The traditional -long form
\t       xml     XML form, the same as -xml
\t       json    JSON classad form, the same as -json
\t       new     'new' classad form without newlines
\t-userlog <file>\t\t Read queue from a user log file

    [restriction-list] each restriction may be one of
\t<cluster>\t\t Get information about specific cluster
\t<cluster>.<proc>\t Get information about specific job
\t<owner>\t\t\t Information about jobs owned by <owner>
\t-factory\t\t Get information about late materialization job factories
\t-jobset\t\t\t Get information from jobset ads
\t-autocluster\t\t Get information about the SCHEDD's autoclusters
\t-constraint <expr>\t Get information about jobs that match <expr>
\t-unmatchable\t\t Get information about jobs that do not match any machines
\t-allusers\t\t Consider jobs from all users

    [output-opts] are
\t-limit <num>\t\t Limit the number of results to <num>
\t-cputime\t\t Display CPU_TIME instead of RUN_TIME
\t-currentrun\t\t Display times only for current run
\t-debug\t\t\t Display debugging info to console
\t-dag\t\t\t Sort DAG jobs under their DAGMan
\t-expert\t\t\t Display shorter error messages
\t-grid\t\t\t Get information about grid jobs
\t-help [Universe|State]\t Display this screen, JobUniverses, JobStates
\t-hold\t\t\t Get information about jobs on hold
\t-hold-codes\t\t Display first job for each unique hold code and subcode
\t-io\t\t\t Display information regarding I/O
\t-batch\t\t\t Display DAGs or batches of similar jobs as a single line
\t-nobatch\t\t Display one line per job, rather than one line per batch
\t-idle\t\t\t Get information about idle jobs
\t-run\t\t\t Get information about running jobs
\t-totals\t\t\t Display only job totals
\t-stream-results \t Produce output as jobs are fetched
\t-version\t\t Print the HTCondor version and exit
\t-wide[:<width>]\t\t Don't truncate data to fit in 80 columns.
\t\t\t\t Truncates to console width or <width> argument.
\t-autoformat[:jlhVrTY,tng] <attr> [<attr2> [...]]
\t-af[:jlhVr,tng] <attr> [attr2 [...]]
\t    Print attr(s) with automatic formatting
\t    the [jlhVrTY,tng] options modify the formatting
\t        j   Display Job id
\t        l   attribute labels
\t        h   attribute column headings
\t        V   %V formatting (string values are quoted)
\t        r   %r formatting (raw/unparsed values)
\t        T   %T formatting (elapsed time values)
\t        Y   %Y formatting (time and date values)
\t        ,   comma after each value
\t        t   tab before each value (default is space)
\t        n   newline after each value
\t        g   newline between ClassAds, no space before values
\t    use -af:h to get tabular values with headings
\t    use -af:lrng to get -long equivalent format
\t-aaf[:VrTY] <attr> [attr2 [...]]
\t    Like -af, but appends attr(s) after the standard columns
\t-format <fmt> <attr>\t Print attribute attr using format fmt
\t-print-format <file>\t Use <file> to set display attributes and formatting
\t\t\t\t (experimental, see htcondor-wiki for more information)
\t-long[:<form>]\t\t Display entire ClassAds in <form> format
\t\t\t\t See -jobads for <form> choices
\t-xml\t\t\t Display entire ClassAds in XML form
\t-json\t\t\t Display entire ClassAds in JSON form
\t-attributes X,Y,...\t Attributes to show in -xml, -json, and -long

    [analyze-opts] are
\t-analyze[:<qual>]\t Perform matchmaking analysis on jobs
\t-better-analyze[:<qual>] Perform more detailed match analysis
\t    <qual> is a comma separated list of one or more of
\t    priority\tConsider user priority during analysis
\t    summary\tShow a one-line summary for each job or machine
\t    reverse\tAnalyze machines rather than jobs
\t-machine <name>\t\t Machine name or slot name for analysis
\t-mconstraint <expr>\t Machine constraint for analysis
\t-slotads[:<form>] <file> Read Machine ClassAds for analysis from <file>
\t\t\t\t <file> can be the output of condor_status -long
\t-userprios <file>\t Read user priorities for analysis from <file>
\t\t\t\t <file> can be the output of condor_userprio -l
\t-nouserprios\t\t Don't consider user priority during analysis (default)
\t-reverse-analyze\t Analyze Machine requirements against jobs
\t-verbose\t\t Show progress and machine names in results


    Only information about jobs owned by the current user will be returned.
This default is overridden when the restriction list has usernames and/or
job ids, when the -submitter or -allusers arguments are specified, or
when the current user is a queue superuser

"""

HISTORY_USAGE = """Usage: condor_history [source] [restriction-list] [options]

   where [source] is one of
\t-file <file>\t\tRead history data from specified file
\t-search <path>\t\tRead history data from all matching HTCondor time rotated files
\t-local\t\t\tRead history data from the configured files
\t-schedd\t\t\tRead history data from Schedd (default){JOIN}
\t-startd\t\t\tRead history data for the Startd
\t-epochs\t\t\tRead epoch (per job run instance) history data
\t-transfer-history\tRead historical transfer ClassAds from the epoch history
\t-daemon\t\t\tRead historical Daemon ClassAds. Note: Only contains Schedd Ads currently
\t-userlog <file>\t\tRead job data specified userlog file
\t-directory\t\tRead history data from per job epoch history directory{JOIN}
\t-name <schedd-name>\tRemote schedd to read from
\t-pool <collector-name>\tPool remote schedd lives in.
   If neither -file, -local, -userlog, nor -name is specified, then the
   schedd identified by SCHEDD_HOST or SCHEDD_NAME is located (as
   condor_q and condor_submit do).  If that schedd is on another host it
   is queried remotely; otherwise, or if no schedd can be located, the
   local history file(s) are read.

   and [restriction-list] is one or more of
\t<cluster>\t\tGet information about specific cluster
\t<cluster>.<proc>\tGet information about specific job
\t<owner>\t\t\tInformation about jobs owned by <owner>
\t-constraint <expr>\tInformation about jobs matching <expr>
\t-scanlimit <num>\tStop scanning when <num> jobs have been read
\t-since <jobid>|<expr>\tStop scanning when <expr> is true or <jobid> is read
\t-completedsince <time>\tDisplay jobs completed on/after time

   and [options] are one or more of
\t-help\t\t\tDisplay this screen
\t-backwards\t\tList jobs in reverse chronological order
\t-forwards\t\tList jobs in chronological order
\t-limit <number>\t\tLimit the number of jobs displayed
\t-match <number>\t\tOld name for -limit
\t-long\t\t\tDisplay entire classads
\t-xml\t\t\tDisplay classads in XML format
\t-json\t\t\tDisplay classads in JSON format
\t-jsonl\t\t\tDisplay classads in JSON-Lines format: one ad per line
\t-attributes <attr-list>\tDisplay only the given attributes
\t-wide[:<width>]\t\tDon't truncate fields to fit into 80 columns
\t-format <fmt> <attr>\tDisplay attr using printf formatting
\t-autoformat[:jlhVr,tng] <attr> [<attr2> [...]]
\t-af[:jlhVr,tng] <attr> [attr2 [...]]
\t    Print attr(s) with automatic formatting
\t    the [jlhVr,tng] options modify the formatting
\t        j   display Job Id
\t        l   attribute labels
\t        h   attribute column headings
\t        V   %V formatting (string values are quoted)
\t        r   %r formatting (raw/unparsed values)
\t        ,   comma after each value
\t        t   tab before each value (default is space)
\t        n   newline after each value
\t        g   newline between ClassAds, no space before values
\t    use -af:h to get tabular values with headings
\t    use -af:lrng to get -long equivalent format
\t-print-format <file>\tUse <file> to specify the attributes and formatting
\t-extract <file>\t\tCopy historical ClassAd entries into the specified file
\t-no-librarian\t\tDisable librarian index lookups
""".replace("{JOIN}\n", "")

_ID_RE = re.compile(r"^(\d+)(?:\.(\d+))?$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(Exception):
    """Unknown or malformed option."""

    def __init__(self, arg: str) -> None:
        super().__init__(arg)
        self.arg = arg


@dataclass
class Options:
    """Parsed options shared by condor_q and condor_history."""

    ids: list[tuple[int, int | None]] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    constraint: str | None = None
    af: list[str] | None = None
    af_flags: str = ""
    formats: list[tuple[str, str]] = field(default_factory=list)
    mode: str = "default"
    attributes: list[str] | None = None
    limit: int | None = None
    scanlimit: int | None = None
    batch: bool | None = None
    dag: bool = False
    totals: bool = False
    filter: str | None = None
    forwards: bool = False
    userlog: str | None = None
    version: bool = False


def parse_options(argv: list[str], history: bool) -> Options:
    """Parse condor_q/condor_history arguments (raises :class:`UsageError`)."""
    opts = Options()
    i = 0
    ignored_with_value = {"-name", "-pool", "-file", "-search", "-since"}
    ignored_flags = {"-wide", "-allusers", "-global", "-local", "-schedd", "-stream-results"}
    ignored_flags |= {"-expert", "-debug", "-backwards", "-no-librarian"}

    def value() -> str:
        nonlocal i
        if i + 1 >= len(argv):
            raise UsageError(argv[i])
        i += 1
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        low = arg.lower()
        base = low.split(":", 1)[0]
        if not arg.startswith("-"):
            m = _ID_RE.match(arg)
            if m:
                opts.ids.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None))
            elif _NAME_RE.match(arg):
                opts.owners.append(arg)
            else:
                raise UsageError(arg)
        elif base in ("-af", "-autoformat"):
            opts.af_flags = arg.split(":", 1)[1] if ":" in arg else ""
            opts.af = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                opts.af.append(argv[i])
        elif low == "-format":
            fmt = value()
            opts.formats.append((fmt, value()))
        elif low in ("-constraint", "-const"):
            expr = value()
            opts.constraint = (
                expr if opts.constraint is None else f"({opts.constraint}) && ({expr})"
            )
        elif base in ("-long", "-l"):
            opts.mode = "long"
        elif low == "-json":
            opts.mode = "json"
        elif low == "-jsonl" and history:
            opts.mode = "jsonl"
        elif low == "-xml":
            opts.mode = "xml"
        elif low in ("-attributes", "-attrs"):
            opts.attributes = [a for a in value().split(",") if a]
        elif low == "-limit" or (history and low == "-match"):
            try:
                opts.limit = int(value())
            except ValueError as exc:
                raise UsageError(arg) from exc
        elif low == "-scanlimit" and history:
            try:
                opts.scanlimit = int(value())
            except ValueError as exc:
                raise UsageError(arg) from exc
        elif low == "-forwards" and history:
            opts.forwards = True
        elif base in ("-analyze", "-better-analyze") and not history:
            opts.mode = "analyze"
        elif low == "-userlog":
            opts.userlog = value()
        elif low == "-version" and not history:
            opts.version = True
        elif not history and low == "-nobatch":
            opts.batch = False
        elif not history and low == "-batch":
            opts.batch = True
        elif not history and low == "-dag":
            opts.dag = True
        elif not history and low in ("-totals", "-total"):
            opts.totals = True
        elif not history and low in ("-run", "-idle", "-hold"):
            opts.filter = low[1:]
        elif low in ignored_with_value:
            value()
        elif low in ignored_flags or low.startswith("-wide"):
            pass
        else:
            raise UsageError(arg)
        i += 1
    return opts


# --------------------------------------------------------------------------- formatting


def fmt_date(t: Any) -> str:
    """``11/25 00:58``."""
    if not isinstance(t, int | float) or isinstance(t, bool) or t <= 0:
        return ""
    return time.strftime("%m/%d %H:%M", time.localtime(t))


def fmt_duration(seconds: float) -> str:
    """``0+00:00:24``."""
    s = max(0, int(seconds))
    return f"{s // 86400}+{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def job_cmd(ad: dict[str, Any]) -> str:
    """CMD column: executable base name and arguments."""
    cmd = str(ad.get("Cmd", ""))
    name = cmd.rsplit("/", 1)[-1]
    args = ad.get("Arguments")
    if not isinstance(args, str):
        args = ad.get("Args")
    if isinstance(args, str) and args:
        return f"{name} {args}"
    return name


def run_time(ad: dict[str, Any], at: float) -> float:
    """Accumulated wall clock time, including the current run."""
    total = float(ad.get("RemoteWallClockTime", 0.0) or 0.0)
    if ad.get("JobStatus") in (STATUS_RUNNING, STATUS_TRANSFERRING_OUTPUT):
        start = ad.get("JobCurrentStartDate")
        if isinstance(start, int | float):
            total += max(0.0, at - start)
    return total


def image_mb(ad: dict[str, Any]) -> float:
    """SIZE column."""
    mem = classad.eval_attr(ad, "MemoryUsage")
    if isinstance(mem, int | float) and not isinstance(mem, bool):
        return float(mem)
    size = ad.get("ImageSize", 0)
    return float(size) / 1024 if isinstance(size, int | float) else 0.0


def _expand_escapes(fmt: str) -> str:
    return fmt.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")


_SPEC_RE = re.compile(r"%([-+ #0]*\d*(?:\.\d+)?)([diouxXeEfgGsvVcr])")


def apply_format(fmt: str, ad: dict[str, Any], expr: str) -> str:
    """One ``-format`` item (empty if the value is undefined)."""
    try:
        value = classad.evaluate(expr, ad)
    except classad.ParseError:
        value = classad.ERROR
    if value is UNDEFINED:
        return ""
    text = _expand_escapes(fmt)

    def repl(m: re.Match[str]) -> str:
        flags, conv = m.group(1), m.group(2)
        v = value
        if conv in "diouxXc":
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, float):
                v = int(v)
            if not isinstance(v, int):
                return ""
            return ("%" + flags + conv) % v
        if conv in "eEfgG":
            if not isinstance(v, int | float):
                return ""
            return ("%" + flags + conv) % float(v)
        if conv == "V":
            return ("%" + flags + "s") % classad.unparse(v)
        if conv == "r":
            return ("%" + flags + "s") % classad.unparse(v)
        return ("%" + flags + "s") % classad.format_af(v)

    return _SPEC_RE.sub(repl, text)


def af_value(ad: dict[str, Any], expr: str, flags: str) -> str:
    """One ``-af`` value."""
    if "r" in flags and _NAME_RE.match(expr):
        return classad.unparse(classad.lookup(ad, expr))
    try:
        value = classad.evaluate(expr, ad)
    except classad.ParseError:
        value = classad.ERROR
    return classad.format_af(value, quote_strings="V" in flags)


def render_af(
    ads: Iterable[dict[str, Any]], exprs: list[str], flags: str, job_ids: bool = True
) -> str:
    """The whole ``-af`` output for ``ads``."""
    ads = list(ads)
    show_id = "j" in flags and job_ids
    rows: list[tuple[str, list[str]]] = []
    defined: list[list[bool]] = []
    for ad in ads:
        jid = f"{ad.get('ClusterId')}.{ad.get('ProcId')}"
        vals = [af_value(ad, e, flags) for e in exprs]
        rows.append((jid, vals))
        defined.append([classad.evaluate_safe(e, ad) is not UNDEFINED for e in exprs])
    out: list[str] = []
    if "h" in flags:
        widths = [len(e) for e in exprs]
        for (_, vals), dfl in zip(rows, defined, strict=True):
            for n, v in enumerate(vals):
                if dfl[n]:
                    widths[n] = max(widths[n], len(v))
        id_width = max([4] + [len(r[0]) for r in rows])
        header = []
        if show_id:
            header.append(" ID".ljust(id_width))
        header.extend(e.ljust(w) for e, w in zip(exprs, widths, strict=True))
        out.append(" ".join(header) + "\n")
        for jid, vals in rows:
            cells = []
            if show_id:
                cells.append(jid.ljust(id_width))
            for n, v in enumerate(vals):
                cells.append(v.ljust(widths[n]))
                widths[n] = max(widths[n], len(v))
            out.append(" ".join(cells) + "\n")
        return "".join(out)
    sep = "\t" if "t" in flags else " "
    for jid, vals in rows:
        parts: list[str] = []
        if "l" in flags:
            vals = [f"{e} = {v}" for e, v in zip(exprs, vals, strict=True)]
        if "g" in flags:
            out.append("\n")
        if "n" in flags:
            text = "".join(v + ("," if "," in flags else "") + "\n" for v in vals)
            if show_id:
                text = jid + "\n" + text
            out.append(text)
            continue
        joiner = ("," if "," in flags else "") + sep
        parts = vals
        line = joiner.join(parts)
        if show_id:
            line = jid + sep + line if line else jid
        out.append(line + "\n")
    return "".join(out)


def project(ad: dict[str, Any], attributes: list[str] | None) -> dict[str, Any]:
    """Restrict an ad to ``-attributes``."""
    if attributes is None:
        return ad
    wanted = {a.lower() for a in attributes}
    return {k: v for k, v in ad.items() if k.lower() in wanted}


def render_full(ads: list[dict[str, Any]], opts: Options, history: bool) -> str:
    """``-long``, ``-json``, ``-jsonl`` and ``-xml`` output."""
    shown = [project(ad, opts.attributes) for ad in ads]
    if opts.mode == "long":
        return "".join(classad.format_long(ad) + "\n" for ad in shown)
    if opts.mode == "json":
        if not shown:
            return "[\n]\n" if history else ""
        return "[\n" + "\n,\n".join(classad.format_json_ad(ad) for ad in shown) + "\n]\n"
    if opts.mode == "jsonl":
        return "".join(classad.format_jsonl_ad(ad) + "\n" for ad in shown)
    if not shown and not history:
        return ""
    head = '<?xml version="1.0"?>\n<!DOCTYPE classads SYSTEM "classads.dtd">\n<classads>\n'
    if history:
        body = "".join("\n" + classad.format_xml_ad(ad) for ad in shown)
        return head + body + "\n</classads>\n\n"
    return head + "".join(classad.format_xml_ad(ad) for ad in shown) + "</classads>\n"


# --------------------------------------------------------------------------- selection


def select(ads: list[dict[str, Any]], opts: Options, ids: list[tuple[int, int | None]]) -> list:
    """Apply id/owner restrictions and the constraint."""
    result = []
    wanted = classad.matcher(opts.constraint) if opts.constraint is not None else None
    for ad in ads:
        if ids or opts.owners:
            ok = (
                any(
                    ad.get("ClusterId") == c and (p is None or ad.get("ProcId") == p)
                    for c, p in ids
                )
                or ad.get("Owner") in opts.owners
            )
            if not ok:
                continue
        if wanted is not None and not wanted(ad):
            continue
        result.append(ad)
    return result


def _totals_line(label: str, ads: list[dict[str, Any]], trailing: str) -> str:
    counts = dict.fromkeys(range(1, 8), 0)
    n = 0
    for ad in ads:
        if ad.get("JobUniverse") == UNIVERSE_SCHEDULER:
            continue
        n += 1
        status = ad.get("JobStatus")
        if isinstance(status, int) and status in counts:
            counts[status] += 1
    return (
        f"{label}: {n} jobs; {counts[STATUS_COMPLETED]} completed, "
        f"{counts[STATUS_REMOVED]} removed, {counts[STATUS_IDLE]} idle, "
        f"{counts[STATUS_RUNNING] + counts[STATUS_TRANSFERRING_OUTPUT]} running, "
        f"{counts[STATUS_HELD]} held, {counts[STATUS_SUSPENDED]} suspended{trailing}\n"
    )


def _nobatch_row(ad: dict[str, Any], at: float, owner_width: int, owner: str) -> str:
    status = STATUS_LETTER.get(int(ad.get("JobStatus", 0)), "?")
    prio = int(ad.get("JobPrio", 0))
    return (
        f"{ad['ClusterId']:>4}.{ad['ProcId']:<3} {owner:<{owner_width}} "
        f"{fmt_date(ad.get('QDate')):>11} {fmt_duration(run_time(ad, at)):>12} "
        f"{status:<2} {prio:<3} {image_mb(ad):4.1f} {job_cmd(ad)}\n"
    )


def _id_cell(ad: dict[str, Any]) -> str:
    return f"{ad['ClusterId']:>4}.{ad['ProcId']:<3}"


def _job_ids_text(ads: list[dict[str, Any]]) -> str:
    if not ads:
        return ""
    first, last = ads[0], ads[-1]
    if len(ads) == 1:
        return f"{first['ClusterId']}.{first['ProcId']}"
    if first["ClusterId"] == last["ClusterId"]:
        return f"{first['ClusterId']}.{first['ProcId']}-{last['ProcId']}"
    return f"{first['ClusterId']}.{first['ProcId']} ... {last['ClusterId']}.{last['ProcId']}"


def _batched(
    ads: list[dict[str, Any]], all_ads: list[dict[str, Any]], from_log: bool = False
) -> str:
    groups: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    dagmen = {ad["ClusterId"]: ad for ad in all_ads if ad.get("JobUniverse") == UNIVERSE_SCHEDULER}
    for ad in ads:
        dag_id = ad.get("DAGManJobId")
        if ad.get("JobUniverse") == UNIVERSE_SCHEDULER:
            key = f"dag:{ad['ClusterId']}"
            name = str(ad.get("JobBatchName") or f"ID: {ad['ClusterId']}")
        elif isinstance(dag_id, int) and dag_id in dagmen:
            key = f"dag:{dag_id}"
            name = str(dagmen[dag_id].get("JobBatchName") or f"ID: {dag_id}")
        elif isinstance(ad.get("JobBatchName"), str):
            key = f"batch:{ad['JobBatchName']}"
            name = ad["JobBatchName"]
        else:
            key = f"cluster:{ad['ClusterId']}"
            name = f"ID: {ad['ClusterId']}"
        if key not in groups:
            groups[key] = {"name": name, "jobs": [], "dagman": None, "owner": ad.get("Owner")}
            order.append(key)
        if ad.get("JobUniverse") == UNIVERSE_SCHEDULER:
            groups[key]["dagman"] = ad
        else:
            groups[key]["jobs"].append(ad)
    has_hold = not ads or any(ad.get("JobStatus") == STATUS_HELD for ad in ads)
    owners = [str(g["owner"]) for g in groups.values()]
    owner_w = max([5] + [len(o) for o in owners])
    name_w = max([11] + [len(str(g["name"])) + 1 for g in groups.values()]) if groups else 13
    tail = (
        "   DONE   RUN    IDLE   HOLD  TOTAL JOB_IDS"
        if has_hold
        else ("   DONE   RUN    IDLE  TOTAL JOB_IDS")
    )
    text = f"{'OWNER':<{owner_w}} {'BATCH_NAME':<{name_w}} {'SUBMITTED':>11}{tail}\n"

    def cell(n: int) -> str:
        return f"{(str(n) if n else '_'):>6}"

    for key in order:
        g = groups[key]
        jobs = g["jobs"]
        dagman = g["dagman"]
        counted = dict.fromkeys(range(1, 8), 0)
        for ad in jobs:
            counted[int(ad.get("JobStatus", 1))] += 1
        first = dagman or jobs[0]
        if dagman is not None:
            total = dagman.get("DAG_NodesTotal")
            total = total if isinstance(total, int) else len(jobs)
            done = dagman.get("DAG_NodesDone")
            done = done if isinstance(done, int) else 0
        else:
            total = sum(
                int(ad.get("TotalSubmitProcs", 1))
                for ad in {a["ClusterId"]: a for a in jobs}.values()
            )
            done = max(0, total - len(jobs))
            if from_log:
                total = done = 0
        row = f"{str(g['owner']):<{owner_w}} {str(g['name']):<{name_w}} "
        row += f"{fmt_date(first.get('QDate')):>11} {cell(done)} {cell(counted[2])} "
        row += f"{cell(counted[1])} "
        if has_hold:
            row += f"{cell(counted[5])} "
        row += f"{cell(total)} {_job_ids_text(jobs)}\n"
        text += row
    return text


def _dag_order(ads: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    present = {ad["ClusterId"] for ad in ads if ad.get("JobUniverse") == UNIVERSE_SCHEDULER}
    children: dict[int, list[dict[str, Any]]] = {}
    top: list[dict[str, Any]] = []
    for ad in ads:
        dag = ad.get("DAGManJobId")
        if isinstance(dag, int) and dag in present:
            children.setdefault(dag, []).append(ad)
        else:
            top.append(ad)
    result: list[tuple[dict[str, Any], bool]] = []
    for ad in top:
        result.append((ad, False))
        if ad.get("JobUniverse") == UNIVERSE_SCHEDULER:
            result.extend((c, True) for c in children.get(ad["ClusterId"], []))
    return result


def render_human_q(
    ads: list[dict[str, Any]], all_ads: list[dict[str, Any]], opts: Options, cfg: Config
) -> str:
    """The default tables of condor_q."""
    at = now()
    stamp = time.strftime("%m/%d/%y %H:%M:%S", time.localtime(at))
    text = f"\n\n-- Schedd: {cfg.schedd_name} : <127.0.0.1:{cfg.schedd_port}?... @ {stamp}\n"
    totals = (
        "\n"
        + _totals_line("Total for query", ads, " ")
        + _totals_line("Total for all users", all_ads, "")
        + "\n"
    )
    if opts.totals:
        return text + totals[1:]
    if opts.filter == "run":
        text += " ID      OWNER            SUBMITTED     RUN_TIME HOST(S)\n"
        for ad in ads:
            text += (
                f"{_id_cell(ad)} {str(ad.get('Owner')):<14} {fmt_date(ad.get('QDate')):>11} "
                f"{fmt_duration(run_time(ad, at)):>12} {ad.get('RemoteHost', '')}\n"
            )
        return text
    if opts.filter == "idle":
        text += " ID      OWNER          UNIVERSE  CPUS MEMORY STARTS LAST_HOST\n"
        for ad in ads:
            universe = UNIVERSE_NAME.get(int(ad.get("JobUniverse", 5)), "Vanilla")
            cpus = classad.eval_attr(ad, "RequestCpus")
            mem = classad.eval_attr(ad, "RequestMemory")
            last = ad.get("LastRemoteHost", "undefined")
            text += (
                f"{_id_cell(ad)} {str(ad.get('Owner')):<14} {universe:<9} {cpus:>4} "
                f"{classad.format_af(mem):>6} {int(ad.get('NumJobStarts', 0)):>6} {last}\n"
            )
        return text
    if opts.filter == "hold":
        text += " ID      OWNER          HELD_SINCE  CODE/SUB HOLD_REASON\n"
        for ad in ads:
            code = ad.get("HoldReasonCode", 0)
            sub = ad.get("HoldReasonSubCode", 0)
            text += (
                f"{_id_cell(ad)} {str(ad.get('Owner')):<14} "
                f"{fmt_date(ad.get('EnteredCurrentStatus')):>11} {code:>4}/{sub:<3} "
                f"{ad.get('HoldReason', '')}\n"
            )
        return text + totals
    if opts.batch is False:
        if opts.dag:
            text += " ID      OWNER/NODENAME      SUBMITTED     RUN_TIME ST PRI SIZE CMD\n"
            for ad, nested in _dag_order(ads):
                owner = f" |-{ad.get('DAGNodeName', '')}" if nested else str(ad.get("Owner"))
                text += _nobatch_row(ad, at, 17, owner)
        else:
            text += " ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD\n"
            for ad in ads:
                text += _nobatch_row(ad, at, 14, str(ad.get("Owner")))
        return text + totals
    return text + _batched(ads, all_ads) + totals


def limit_jobs(ads: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """``-limit``: what the schedd returns first (newest cluster first), shown in id order."""
    if limit is None:
        return ads
    clusters: dict[int, list[dict[str, Any]]] = {}
    for ad in ads:
        clusters.setdefault(int(ad["ClusterId"]), []).append(ad)
    picked: list[dict[str, Any]] = []
    for cid in sorted(clusters, reverse=True):
        for ad in clusters[cid]:
            if len(picked) < limit:
                picked.append(ad)
    return sorted(picked, key=lambda a: (a["ClusterId"], a["ProcId"]))


def _needed(opts: Options) -> set[str] | None:
    """Lower-case names of what ``-json``/``-long``/``-xml`` ``-attributes`` output reads.

    None for other outputs (they may read any attribute).  Only for jobs whose
    constraint :func:`classad.quick_match` decided: it names its attributes.
    """
    if opts.af is not None or opts.formats or opts.attributes is None:
        return None
    if opts.mode not in ("json", "jsonl", "xml", "long") or opts.constraint is None:
        return None
    return {
        *(a.lower() for a in opts.attributes),
        *(a.lower() for a in classad.id_attributes(opts.constraint)),
        "clusterid",
        "procid",
        "owner",
        "jobstatus",
    }


def q_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_q``."""
    try:
        opts = parse_options(argv, history=False)
    except UsageError as exc:
        out.write(Q_USAGE)
        err.write(f"Error: unrecognized argument {exc.arg}\n")
        return 1
    if opts.version:
        out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
        return 0
    state = State()
    cfg = state.config
    if opts.constraint is not None:
        try:
            classad.parse(opts.constraint)
        except classad.ParseError:
            err.write(f"\n-- Failed to fetch ads from: {cfg.schedd_sinful} : {cfg.hostname}\n\n")
            return 1
    if opts.userlog is not None:
        all_ads = [
            a
            for a in userlog_ads(opts.userlog, cfg)
            if a["JobStatus"] not in (STATUS_COMPLETED, STATUS_REMOVED)
        ]
    else:
        queue = state.read_queue()
        if queue.jobs:
            state.ensure_scheduler()
        at = int(now())
        # Only the human output counts every job: the others need only the matches decoded,
        # and -json/-long... -attributes only the attributes shown and selected on.
        skip = (
            opts.constraint
            if opts.af is not None or opts.formats or opts.mode != "default"
            else None
        )
        needed = _needed(opts) if skip is not None else None
        all_ads = []
        for job in sorted(queue.jobs, key=lambda j: (j.cluster, j.proc)):
            quick = None if skip is None else classad.quick_match(skip, job.stored)
            if quick is False:
                continue
            if quick and needed is not None:
                stored = job.stored
                ad = {k: classad.from_storable(v) for k, v in stored.items() if k.lower() in needed}
            else:
                ad = dict(job.ad)
            ad["ServerTime"] = at
            all_ads.append(ad)
    human = opts.af is None and not opts.formats and opts.mode == "default"
    batched = human and opts.batch is not False and opts.filter is None and not opts.totals
    ids = opts.ids[:1] if batched and opts.ids else opts.ids
    ads = select(all_ads, opts, ids)
    if opts.filter == "run":
        ads = [a for a in ads if a.get("JobStatus") == STATUS_RUNNING]
    elif opts.filter == "idle":
        ads = [a for a in ads if a.get("JobStatus") == STATUS_IDLE]
    elif opts.filter == "hold":
        ads = [a for a in ads if a.get("JobStatus") == STATUS_HELD]
    ads = limit_jobs(ads, opts.limit)
    if opts.af is not None:
        out.write(render_af(ads, opts.af, opts.af_flags))
    elif opts.formats:
        out.write("".join(apply_format(f, ad, a) for ad in ads for f, a in opts.formats))
    elif opts.mode not in ("default", "analyze"):
        out.write(render_full(ads, opts, history=False))
    elif opts.mode == "analyze":
        out.write(render_analyze(ads, cfg))
    elif opts.userlog is not None:
        out.write(render_userlog_q(ads, opts))
    else:
        out.write(render_human_q(ads, all_ads, opts, cfg))
    return 0


def render_analyze(ads: list[dict[str, Any]], cfg: Config) -> str:
    """``-analyze``: every slot matches every job (there is no matchmaking here)."""
    text = f"\n\n-- Schedd: {cfg.schedd_name} : <127.0.0.1:{cfg.schedd_port}?...\n"
    state_words = {2: "running", 3: "removed", 4: "completed", 5: "held"}
    for ad in ads:
        jid = f"{int(ad['ClusterId']):03d}.{int(ad['ProcId']):03d}"
        status = int(ad.get("JobStatus", 1))
        if status in state_words:
            text += f"\n{jid}:  Job is {state_words[status]}.\n"
            if status == STATUS_HELD:
                text += f"\nHold reason: {ad.get('HoldReason', '')}\n"
            continue
        n = cfg.slots
        text += (
            f"\n{jid}:  Run analysis summary ignoring user priority.  "
            f"Of {n} slots on 1 machines,\n"
            "      0 slots are rejected by your job's requirements\n"
            "      0 slots reject your job because of their own requirements\n"
            f"      {n} slots match and are willing to run your job\n"
        )
    return text + "\n"


def render_userlog_q(ads: list[dict[str, Any]], opts: Options) -> str:
    """condor_q -userlog: the queue as reconstructed from a job event log."""
    at = now()
    stamp = time.strftime("%m/%d/%y %H:%M:%S", time.localtime(at))
    text = f"\n\n-- Userlog: {opts.userlog} @ {stamp}\n"
    if opts.batch is False:
        text += " ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD\n"
        for ad in ads:
            text += _nobatch_row(ad, at, 14, str(ad.get("Owner")))
    else:
        text += _batched(ads, ads, from_log=True)
    totals = _totals_line("Total for query", ads, "").rstrip("\n")
    return text + "\n" + totals.ljust(138) + "\n\n"


# --------------------------------------------------------------------------- history


def userlog_ads(path: str, cfg: Config) -> list[dict[str, Any]]:
    """Pseudo job ads reconstructed from a job event log (``-userlog``)."""
    ads: dict[tuple[int, int], dict[str, Any]] = {}
    for ev in events.read_file(path):
        key = (ev.cluster, ev.proc)
        ad = ads.setdefault(
            key,
            {
                "ClusterId": ev.cluster,
                "ProcId": ev.proc,
                "Owner": cfg.user,
                "JobStatus": STATUS_IDLE,
                "QDate": int(ev.epoch),
            },
        )
        t = int(ev.epoch)
        if ev.code == 1:
            ad["JobStatus"] = STATUS_RUNNING
            ad["JobCurrentStartDate"] = t
        elif ev.code == 5:
            ad["JobStatus"] = STATUS_COMPLETED
            ad["CompletionDate"] = t
            start = ad.get("JobCurrentStartDate", t)
            ad["RemoteWallClockTime"] = float(t - start)
            if ev.return_value is not None:
                ad["ExitCode"] = ev.return_value
        elif ev.code == 9:
            ad["JobStatus"] = STATUS_REMOVED
        elif ev.code == 12:
            ad["JobStatus"] = STATUS_HELD
        elif ev.code == 13:
            ad["JobStatus"] = STATUS_IDLE
    return sorted(ads.values(), key=lambda a: (a["ClusterId"], a["ProcId"]))


def scan_history(state: State, opts: Options) -> list[dict[str, Any]]:
    """The matching history ads, read as ``condor_history`` reads them.

    Newest first (oldest with ``-forwards``), one record at a time: the scan
    stops after ``-scanlimit`` records (matching or not) or once ``-limit``
    records matched.  A record is decoded only when the constraint may hold
    for it (numbers are stored as they are).
    """
    ads: list[dict[str, Any]] = []
    if opts.limit is not None and opts.limit <= 0:
        return ads
    records = state.history_records(newest_first=not opts.forwards)
    with contextlib.closing(records):
        for index, record in enumerate(records):
            if opts.scanlimit is not None and index >= opts.scanlimit:
                break
            if (
                opts.constraint is not None
                and classad.quick_match(opts.constraint, record) is False
            ):
                continue
            ads.extend(select([classad.ad_from_storable(record)], opts, opts.ids))
            if opts.limit is not None and len(ads) >= opts.limit:
                break
    return ads


def history_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_history``."""
    try:
        opts = parse_options(argv, history=True)
    except UsageError as exc:
        out.write(HISTORY_USAGE)
        err.write(f"Error: Unknown argument {exc.arg}\n")
        return 1
    if opts.constraint is not None:
        try:
            classad.parse(opts.constraint)
        except classad.ParseError:
            err.write(f"Error:  could not parse constraint ( ({opts.constraint}) )\n")
            return 1
    state = State()
    if opts.userlog is not None:
        ads = select(userlog_ads(opts.userlog, state.config), opts, opts.ids)
        if opts.limit is not None:
            ads = ads[: opts.limit]
        from_log = True
    else:
        ads = scan_history(state, opts)
        from_log = False
    if opts.af is not None:
        out.write(render_af(ads, opts.af, opts.af_flags))
    elif opts.formats:
        out.write("".join(apply_format(f, ad, a) for ad in ads for f, a in opts.formats))
    elif opts.mode != "default":
        out.write(render_full(ads, opts, history=True))
    else:
        out.write(" ID          OWNER            SUBMITTED   RUN_TIME   ST   COMPLETED CMD\n")
        for ad in ads:
            status = STATUS_LETTER.get(int(ad.get("JobStatus", 0)), "?")
            done = fmt_date(ad.get("CompletionDate")) if status == "C" else ""
            cmd = "???" if from_log else job_cmd(ad)
            jid = f"{ad['ClusterId']}.{ad['ProcId']}"
            out.write(
                f"{jid:<12} {str(ad.get('Owner')):<14} {fmt_date(ad.get('QDate')):>11} "
                f"{fmt_duration(float(ad.get('RemoteWallClockTime', 0) or 0)):>12} "
                f"{status:<2} {done:>11} {cmd}\n"
            )
    return 0
