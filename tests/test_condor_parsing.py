"""The HTCondor client's parsers against real HTCondor 25.14 output (the golden transcripts).

The transcripts are kept in the repository, in ``tests/fixtures/htcondor``
(their README says what they are and which HTCondor wrote them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import condorpy
import pytest

from tests.condor_local_runner import LocalRunner
from tethys_compute.condor import (
    ActionOutcome,
    JobStatus,
    format_arguments,
    normalize_job_id,
    render_dag,
    render_submit,
    run_batch,
)
from tethys_compute.condor.batch import build_batch_script, split_batch_output
from tethys_compute.condor.client import status_commands, submit_result
from tethys_compute.condor.parse import (
    action_outcome,
    iter_json_ads,
    job_info_from_ad,
    parse_submit_summary,
    parse_terse_submit,
    parse_version,
)
from tethys_compute.exceptions import CondorSubmitError, InvalidArgumentError
from tethys_compute.remote import CommandResult

GOLDEN_DIR = Path(__file__).resolve().parent / "fixtures" / "htcondor"


@dataclass(frozen=True)
class Case:
    """One ``=== CASE`` (or ``=== FILE``) block of a golden transcript."""

    id: str
    title: str
    command: str
    exit: int | None
    stdout: str
    stderr: str
    content: str


def _decode(lines: list[str]) -> str:
    """Undo the transcript's line encoding: '$' ends a line; a marker flags no final newline."""
    out = []
    for index, line in enumerate(lines):
        if line == "\\ No newline at end":
            continue
        last_unterminated = index + 1 < len(lines) and lines[index + 1] == "\\ No newline at end"
        if last_unterminated:
            out.append(line)
        else:
            assert line.endswith("$"), f"golden line without '$': {line!r}"
            out.append(line[:-1] + "\n")
    return "".join(out)


def load_golden() -> dict[str, Case]:
    if not GOLDEN_DIR.is_dir():
        pytest.fail(
            f"The golden HTCondor transcripts are missing: {GOLDEN_DIR} does not exist. "
            "They are part of the repository (tests/fixtures/htcondor); restore them from git."
        )
    cases: dict[str, Case] = {}
    for path in sorted(GOLDEN_DIR.glob("*.txt")):
        lines = path.read_text().split("\n")
        i = 0
        while i < len(lines):
            head = re.match(r"^=== (CASE|FILE) (\S+): (.*)$", lines[i])
            if not head:
                i += 1
                continue
            fields: dict[str, str] = {}
            sections: dict[str, list[str]] = {}
            current = None
            i += 1
            while lines[i] != "=== END":
                line = lines[i]
                if line in ("--- STDOUT ---", "--- STDERR ---", "--- CONTENT ---"):
                    current = line.strip("- ").lower()
                    sections[current] = []
                elif current is not None:
                    sections[current].append(line)
                else:
                    key, _, value = line.partition(": ")
                    fields[key.rstrip(":")] = value
                i += 1
            cases[head.group(2)] = Case(
                id=head.group(2),
                title=head.group(3),
                command=fields.get("COMMAND", ""),
                exit=int(fields["EXIT"]) if "EXIT" in fields else None,
                stdout=_decode(sections.get("stdout", [])),
                stderr=_decode(sections.get("stderr", [])),
                content=_decode(sections.get("content", [])),
            )
            i += 1
    return cases


@pytest.fixture(scope="module")
def golden() -> dict[str, Case]:
    return load_golden()


def result_of(case: Case) -> CommandResult:
    argv = tuple(case.command.split()[:1])
    assert case.exit is not None
    return CommandResult(argv, case.exit, case.stdout, case.stderr)


WARNING = "WARNING: the configuration file was changed while reading it\n"


# --------------------------------------------------------------------------
# The transcripts themselves
# --------------------------------------------------------------------------
def test_golden_transcripts_are_all_loaded(golden: dict[str, Case]) -> None:
    commands = [c for c in golden.values() if c.exit is not None]
    assert len(commands) >= 280
    assert (
        golden["submit-19"].stderr == "To monitor your job(s), run: condor_watch_q -clusters 25\n"
    )
    assert golden["submit-08"].stdout == "Submitting job(s)"  # no final newline
    assert golden["q-14"].stdout.isdigit()


# --------------------------------------------------------------------------
# condor_submit / condor_submit_dag
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case_id", "cluster", "count"),
    [("submit-21", 27, 1), ("submit-22", 28, 3), ("submit-26", 32, 1)],
)
def test_terse_submit_gives_cluster_and_job_count(
    golden: dict[str, Case], case_id: str, cluster: int, count: int
) -> None:
    case = golden[case_id]
    result = submit_result(result_of(case), "/work", "golden")
    assert (result.cluster_id, result.num_jobs) == (cluster, count)
    assert result.job_ids == tuple(f"{cluster}.{p}" for p in range(count))
    assert parse_terse_submit(WARNING + case.stdout + WARNING)[0].cluster_id == cluster


@pytest.mark.parametrize(
    ("case_id", "cluster", "count"),
    [("submit-19", 25, 1), ("submit-20", 26, 3), ("submit-25", 31, 1), ("dag-04", 47, 1)],
)
def test_watch_q_hint_on_stderr_is_not_an_error(
    golden: dict[str, Case], case_id: str, cluster: int, count: int
) -> None:
    case = golden[case_id]
    assert "condor_watch_q" in case.stderr and case.exit == 0
    result = submit_result(result_of(case), "/work", "golden")
    assert (result.cluster_id, result.num_jobs) == (cluster, count)
    assert result.warnings == ()
    assert parse_submit_summary(case.stdout) == [(cluster, count)]


@pytest.mark.parametrize(
    ("case_id", "expected"),
    [
        ("submit-06", "ERROR: Failed to open command file (nosuch.sub)"),
        ("submit-07", "ERROR: Failed to open command file (nosuch.sub)"),
        ("submit-08", "ERROR: Can't access executable file /no/such/program"),
        ("submit-09", "ERROR: Can't access executable file"),
        ("submit-10", "ERROR: Failed to parse command file (line 2)."),
        ("submit-11", "ERROR"),
        ("submit-12", "ERROR"),
        ("submit-13", "ERROR: Can't access executable file /no/such/program"),
        ("submit-14", "ERROR: No 'executable' parameter was provided"),
        ("dag-31", 'ERROR: "two.dag.condor.sub" already exists.'),
        ("dag-32", "ERROR: Provided file path does not exist"),
    ],
)
def test_failed_submit_raises_with_htcondors_error_line(
    golden: dict[str, Case], case_id: str, expected: str
) -> None:
    case = golden[case_id]
    assert case.exit == 1
    with pytest.raises(CondorSubmitError) as info:
        submit_result(result_of(case), "/work/x", "scheduler 'golden'")
    message = str(info.value)
    assert expected in message
    assert "scheduler 'golden'" in message and "/work/x" in message
    assert "Usage" not in message


def test_bad_option_submit_names_the_usage_not_an_error_line(golden: dict[str, Case]) -> None:
    case = golden["submit-15"]
    with pytest.raises(CondorSubmitError, match="exit status 1"):
        submit_result(result_of(case), "/w", "golden")


# --------------------------------------------------------------------------
# condor_q / condor_history -json
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case_id", "in_queue", "expected"),
    [
        ("q-22", True, {"25.0": JobStatus.RUNNING}),
        ("q-23", True, {"27.0": JobStatus.IDLE}),
        ("q-24", True, {"26.0": JobStatus.IDLE, "26.1": JobStatus.IDLE, "26.2": JobStatus.IDLE}),
        ("q-05", True, {}),
        ("q-44", True, {}),
        ("history-12", False, {"38.0": JobStatus.COMPLETED}),
        ("history-13", False, {f"26.{p}": JobStatus.COMPLETED for p in range(3)}),
        ("history-14", False, {f"26.{p}": JobStatus.COMPLETED for p in range(3)}),
        ("history-25", False, {}),
    ],
)
def test_json_ads_give_job_statuses_even_among_stray_lines(
    golden: dict[str, Case], case_id: str, in_queue: bool, expected: dict[str, JobStatus]
) -> None:
    case = golden[case_id]
    assert case.exit == 0
    noisy = WARNING + case.stdout.replace("\n,\n", "\n,\n" + WARNING) + WARNING + "{not json\n"
    for text in (case.stdout, noisy):
        infos = [job_info_from_ad(ad, in_queue=in_queue) for ad in iter_json_ads(text)]
        found = {i.id: i.status for i in infos if i is not None}
        assert found == expected
        assert all(i is not None and i.in_queue is in_queue for i in infos)


def test_full_history_ad_gives_exit_code_and_times(golden: dict[str, Case]) -> None:
    (ad,) = iter_json_ads(golden["history-12"].stdout)
    info = job_info_from_ad(ad, in_queue=False)
    assert info is not None
    assert info.exit_code == 0 and info.exit_by_signal is False
    assert info.succeeded and info.done
    assert isinstance(info.entered_current_status, int)
    assert info.hold_reason is None and info.dagman_job_id is None


def test_running_job_ad_is_not_done(golden: dict[str, Case]) -> None:
    (ad,) = iter_json_ads(golden["q-22"].stdout)
    info = job_info_from_ad(ad, in_queue=True)
    assert info is not None and not info.done and not info.succeeded
    assert info.status_label == "running"


@pytest.mark.parametrize("code", range(1, 8))
def test_every_job_status_code_including_suspended_is_known(code: int) -> None:
    info = job_info_from_ad({"ClusterId": 5, "ProcId": 0, "JobStatus": code}, in_queue=True)
    assert info is not None and info.status == JobStatus(code)
    assert JobStatus(7).label == "suspended"
    assert JobStatus(6).label == "transferring_output"
    with pytest.raises(KeyError):  # what condorpy 0.7.0 does with a suspended job
        condorpy.job.CONDOR_JOB_STATUSES[7]


def test_unknown_status_code_is_unknown_not_an_error() -> None:
    info = job_info_from_ad({"ClusterId": 5, "ProcId": 0, "JobStatus": 42}, in_queue=True)
    assert info is not None and info.status is None and info.status_label == "unknown"
    assert job_info_from_ad({"JobStatus": 1}, in_queue=True) is None


def test_af_dag_attributes_agree_with_json_names(golden: dict[str, Case]) -> None:
    # dag-10 shows which attribute names DAG nodes carry: DAGManJobId, DAGNodeName.
    header = golden["dag-10"].command.split()[2:]
    rows = [line.split() for line in golden["dag-10"].stdout.splitlines()]
    ads = [dict(zip(header, row, strict=True)) for row in rows]
    node = job_info_from_ad(
        {k: (int(v) if v.isdigit() else v) for k, v in ads[1].items()}, in_queue=True
    )
    assert node is not None and node.dagman_job_id == 47 and node.dag_node_name == "A"
    attributes = status_commands("ClusterId == 1")[0][-1].split(",")
    assert {"DAGManJobId", "DAGNodeName", "JobStatus", "ExitCode", "HoldReason"} <= set(attributes)


def test_status_commands_are_both_json_with_the_same_constraint() -> None:
    queue, history = status_commands("ClusterId == 7")
    assert queue[0] == "condor_q" and history[0] == "condor_history"
    for argv in (queue, history):
        assert argv[argv.index("-constraint") + 1] == "ClusterId == 7"
        assert "-json" in argv and "-attributes" in argv


# --------------------------------------------------------------------------
# condor_rm / condor_hold / condor_release
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case_id", "outcome"),
    [
        ("rm-07", ActionOutcome.DONE),
        ("rm-08", ActionOutcome.DONE),
        ("rm-10", ActionOutcome.DONE),
        ("rm-11", ActionOutcome.DONE),
        ("rm-18", ActionOutcome.DONE),
        ("rm-31", ActionOutcome.DONE),
        ("rm-12", ActionOutcome.NOT_FOUND),
        ("rm-13", ActionOutcome.NOT_FOUND),
        ("rm-14", ActionOutcome.NOT_FOUND),
        ("rm-16", ActionOutcome.NOT_FOUND),
        ("rm-21", ActionOutcome.NOT_FOUND),
        ("rm-24", ActionOutcome.NOT_FOUND),
        ("rm-26", ActionOutcome.NOT_FOUND),  # empty schedd: exit 0, message on stderr
        ("rm-27", ActionOutcome.NOT_FOUND),
        ("rm-28", ActionOutcome.NOT_FOUND),
        ("rm-29", ActionOutcome.NOT_FOUND),
        ("rm-17", ActionOutcome.FAILED),
        ("hold_release-01", ActionOutcome.DONE),
        ("hold_release-13", ActionOutcome.DONE),
        ("hold_release-15", ActionOutcome.DONE),
        ("hold_release-17", ActionOutcome.DONE),
        ("hold_release-09", ActionOutcome.ALREADY),
        ("hold_release-12", ActionOutcome.ALREADY),
        ("hold_release-10", ActionOutcome.NOT_FOUND),
        ("hold_release-11", ActionOutcome.NOT_FOUND),
        ("hold_release-20", ActionOutcome.NOT_FOUND),
        ("hold_release-34", ActionOutcome.NOT_FOUND),
        ("hold_release-35", ActionOutcome.NOT_FOUND),
    ],
)
def test_control_outcome_follows_exit_status_and_stderr(
    golden: dict[str, Case], case_id: str, outcome: ActionOutcome
) -> None:
    case = golden[case_id]
    assert case.exit is not None
    found, message = action_outcome(case.exit, case.stdout, case.stderr)
    assert found is outcome
    assert "\n" not in message and message


# --------------------------------------------------------------------------
# condor_version
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", ["version-01", "version-04", "version-07", "version-09"])
def test_version_is_parsed(golden: dict[str, Case], case_id: str) -> None:
    version = parse_version(WARNING + golden[case_id].stdout)
    assert version is not None
    assert version.version == "25.14.0" and version.version_tuple == (25, 14, 0)
    assert version.date == "2026-11-24" and version.build == "PRE-RELEASE-UWCS"


def test_version_platform_and_missing_version(golden: dict[str, Case]) -> None:
    version = parse_version(golden["version-01"].stdout)
    assert version is not None and version.platform == "X86_64-Debian_12"
    assert parse_version(golden["version-05"].stdout + golden["version-05"].stderr) is None
    old = parse_version("$CondorVersion: 9.0.17 Oct 04 2022 BuildID: 611349 PackageID: 9.0.17-1 $")
    assert old is not None and old.version == "9.0.17" and old.date == "Oct 04 2022"


# --------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------
def test_job_ids_are_validated() -> None:
    assert normalize_job_id("26") == (26, None)
    assert normalize_job_id(" 26.1 ") == (26, 1)
    for bad in ("abc", "26.x", "1;rm -rf /", "-3", "", True, -1):
        with pytest.raises(InvalidArgumentError):
            normalize_job_id(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# One round trip for several commands: framing with a real sh
# --------------------------------------------------------------------------
def test_batch_keeps_each_commands_streams_and_exit_status(
    golden: dict[str, Case], tmp_path: Path
) -> None:
    host = LocalRunner(tmp_path, with_condor=False)
    cases = [golden[c] for c in ("q-14", "submit-08", "q-24", "rm-26", "submit-10", "q-03")]
    commands = [
        ["sh", "-c", 'printf %s "$1"; printf %s "$2" >&2; exit "$3"', "x", c.stdout, c.stderr]
        + [str(c.exit)]
        for c in cases
    ]
    results = run_batch(host, commands, timeout=30)
    assert host.calls == 1
    assert [(r.stdout, r.stderr, r.exit_status) for r in results] == [
        (c.stdout, c.stderr, c.exit) for c in cases
    ]


def test_batch_output_cannot_be_forged_or_shifted(tmp_path: Path) -> None:
    host = LocalRunner(tmp_path, with_condor=False)
    tricky = "start\n:0:0\n\ntc:0:0\n$(echo no) `echo no` 'quote' \"dq\" ; exit 3 \\"
    results = run_batch(host, [["printf", "%s", tricky], ["sh", "-c", "exit 5"], ["true"]])
    assert results[0].stdout == tricky and results[0].exit_status == 0
    assert results[1].exit_status == 5 and results[2].exit_status == 0
    assert results[2].argv == ("true",)


def test_batch_reports_a_missing_command_as_127(tmp_path: Path) -> None:
    host = LocalRunner(tmp_path, with_condor=False)
    (missing, present) = run_batch(host, [["condor_q", "-total"], ["echo", "ok"]])
    assert missing.exit_status == 127 and "condor_q" in missing.stderr
    assert present.stdout == "ok\n"


def test_split_drops_text_before_the_start_marker() -> None:
    script = build_batch_script([["echo", "a"]], "tok1")
    assert "'a'" not in script and "echo a </dev/null" in script
    parts = split_batch_output("motd junk\ntok1:start\nhello\n\ntok1:0:0\n", "tok1", 1)
    assert parts == [("hello\n", 0)]
    assert split_batch_output("tok1:start\npartial", "tok1", 2) == [("", None), ("", None)]


# --------------------------------------------------------------------------
# Submit descriptions and DAGs (condorpy's Job / Workflow / Node)
# --------------------------------------------------------------------------
def test_arguments_list_is_written_like_the_golden_new_syntax(golden: dict[str, Case]) -> None:
    line = next(x for x in golden["submit-31"].content.splitlines() if x.startswith("arguments"))
    args = ["one", "two three", '"four"', "five=5", "it's"]
    assert line == "arguments = " + format_arguments(args)


def test_mapping_description_renders_commands_and_queue() -> None:
    text = render_submit(
        {
            "executable": "run.sh",
            "arguments": ["a b", "c"],
            "environment": {"A": "1", "B": "two words"},
            "transfer_input_files": ["x.txt", "y.txt"],
            "+ProjectName": '"demo"',
            "should_transfer_files": True,
            "priority": 0,
            "queue": 3,
        }
    )
    assert text.executable == "run.sh"
    assert text.text.splitlines() == [
        "executable = run.sh",
        "arguments = \"'a b' c\"",
        "environment = \"A=1 'B=two words'\"",
        "transfer_input_files = x.txt, y.txt",
        '+ProjectName = "demo"',
        "should_transfer_files = true",
        "priority = 0",
        "queue 3",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"executable": "/bin/echo\nqueue 1000"},
        {"bad key": "x"},
        {"arguments": ["a\nb"]},
        {"queue": 0},
        42,
    ],
)
def test_description_that_would_inject_commands_is_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        render_submit(bad)


def test_text_description_gets_a_queue_line_only_when_missing(golden: dict[str, Case]) -> None:
    hello = golden["submit-16"].content
    assert render_submit(hello).text == hello
    assert render_submit("executable = /bin/true").text == "executable = /bin/true\nqueue\n"
    assert render_submit(hello).executable == "/bin/echo"


def test_condorpy_job_becomes_a_submit_description() -> None:
    job = condorpy.Job("hello", executable="/bin/echo", num_jobs=2, arguments="hi there")
    job.output = "hello.$(Process).out"
    job.set("request_memory", "64M")
    job.priority = 0
    rendered = render_submit(job)
    assert rendered.text.splitlines() == [
        "executable = /bin/echo",
        "arguments = hi there",
        "output = hello.$(Process).out",
        "request_memory = 64M",
        "priority = 0",
        "queue 2",
    ]
    # Why str(Job) is not used: it drops the 0 and writes condorpy's own job_name.
    assert "priority" not in str(job) and "job_name = hello" in str(job)


def test_condorpy_workflow_becomes_a_dag_with_node_submit_files() -> None:
    a = condorpy.Job("A", executable="/bin/sh", arguments="\"-c 'echo A'\"", output="a.out")
    b = condorpy.Job("B", executable="/bin/sh", arguments="\"-c 'echo B'\"", output="b.out")
    workflow = condorpy.Workflow("two", config=None, max_jobs={})
    node_a = condorpy.Node(a)
    node_b = condorpy.Node(b, parents={node_a})
    workflow.add_node(node_b)
    files = render_dag(workflow)
    lines = set(files.dag_text.splitlines())
    assert {"JOB A ./A.job", "JOB B ./B.job", "PARENT A CHILD B"} <= lines
    assert set(files.submit_files) == {"A.job", "B.job"}
    assert "arguments = \"-c 'echo A'\"" in files.submit_files["A.job"]
    assert files.submit_files["B.job"].endswith("queue 1\n")


def test_condorpy_node_flags_it_writes_wrongly_are_refused() -> None:
    workflow = condorpy.Workflow("w", config=None, max_jobs={})
    node = condorpy.Node(condorpy.Job("A", executable="/bin/true"), noop=True)
    assert "\n NOOP" in str(node)  # condorpy puts it on a line of its own
    workflow.add_node(node)
    with pytest.raises(InvalidArgumentError, match="noop"):
        render_dag(workflow)


def test_text_dag_keeps_text_and_renders_its_submit_files(golden: dict[str, Case]) -> None:
    files = render_dag(golden["dag-01"].content, {"a.sub": golden["dag-02"].content})
    assert files.dag_text == golden["dag-01"].content
    assert files.submit_files == {"a.sub": golden["dag-02"].content}
    with pytest.raises(InvalidArgumentError):
        render_dag("JOB A a.sub\n", {"../a.sub": "executable = x"})


def test_golden_json_attribute_order_does_not_matter(golden: dict[str, Case]) -> None:
    ads = list(iter_json_ads(golden["q-24"].stdout))
    assert ads == json.loads(golden["q-24"].stdout)
