"""Submit descriptions and DAG files: from text, mappings or condorpy objects.

condorpy paths used here (verified against condorpy 0.7.0):

* ``condorpy.Job.attributes`` and ``Job.num_jobs``: the submit commands a
  :class:`condorpy.Job` holds, set through its ``set()``/attribute API.  We
  render them ourselves, because ``str(Job)`` drops every falsy value (``0``,
  ``""``) and writes condorpy's private ``job_name`` command.
* ``str(condorpy.Workflow)``: the DAG file text (``JOB``, ``PARENT ... CHILD``,
  ``VARS``, ``SCRIPT``, ``RETRY``, ``PRIORITY``, ``CATEGORY``, ``MAXJOBS``,
  ``CONFIG``), and ``Workflow.node_set`` / ``Node.job`` / ``Job.job_file`` to
  find each node's submit file.

Routed around: ``Node`` with ``dir``/``noop``/``done`` (condorpy writes those
keywords after the line break, onto a line of their own, which DAGMan
rejects) and list values of ``arguments`` (condorpy joins them in the new
syntax's single quotes but without the enclosing double quotes, so HTCondor
reads them in the old syntax); pass ``arguments`` as a string to a Job, or a
list in a mapping (rendered here in the new syntax).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tethys_compute.exceptions import InvalidArgumentError

__all__ = [
    "DagFiles",
    "SubmitDescription",
    "escape_macros",
    "format_arguments",
    "render_dag",
    "render_submit",
]

_KEY = re.compile(r"^[A-Za-z_+][A-Za-z0-9_.+]*$")
_QUEUE_LINE = re.compile(r"^\s*queue\b", re.IGNORECASE | re.MULTILINE)
_EXECUTABLE_LINE = re.compile(r"^\s*executable\s*=\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+@%=,-][A-Za-z0-9_.+@%=, -]*$")
#: The per-job macros list arguments and environment values may still use.
_JOB_MACRO = re.compile(r"(\$\((?:ClusterId|Cluster|ProcId|Process|Step|Item)\))", re.IGNORECASE)


def escape_macros(text: str) -> str:
    """``text`` with every ``$`` written ``$(DOLLAR)``, so HTCondor passes it literally.

    ``condor_submit`` expands macros in every value: ``$ENV(HOME)`` would
    become the submit account's home directory and ``$(NAME)`` any submit or
    configuration variable.  ``$(DOLLAR)`` is HTCondor's predefined macro
    for a literal ``$``.  The per-job macros ``$(Cluster)``,
    ``$(ClusterId)``, ``$(Process)``, ``$(ProcId)``, ``$(Step)`` and
    ``$(Item)`` are kept (they only number the job).

    Raises
    ------
    InvalidArgumentError
        For ``$$(``, which HTCondor expands when the job is matched whatever
        the escaping.

    Examples
    --------
    >>> escape_macros("$ENV(HOME)/in_$(Process).txt")
    '$(DOLLAR)ENV(HOME)/in_$(Process).txt'
    """
    if "$$(" in text:
        raise InvalidArgumentError(
            f"{text[:80]!r} holds '$$(', which HTCondor expands when the job is matched; "
            "pass such a value in a file instead."
        )
    parts = _JOB_MACRO.split(text)
    return "".join(
        part if index % 2 else part.replace("$", "$(DOLLAR)") for index, part in enumerate(parts)
    )


@dataclass(frozen=True)
class SubmitDescription:
    """A rendered submit description and the executable it names (if any)."""

    text: str
    executable: str | None = None
    input_files: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DagFiles:
    """A rendered DAG: its own text and the submit files of its nodes (name to text)."""

    dag_text: str
    submit_files: Mapping[str, str]


def format_arguments(args: Sequence[Any]) -> str:
    """Quote a list of arguments in HTCondor's new ``arguments`` syntax.

    Each argument is wrapped in single quotes when it is empty or holds white
    space or a single quote; ``'`` becomes ``''`` and ``"`` becomes ``""``;
    the whole is wrapped in double quotes (the form of HTCondor's manual and
    of the golden ``args_new.sub``).  Every ``$`` is escaped
    (:func:`escape_macros`), so arguments arrive as given.

    Examples
    --------
    >>> format_arguments(["-c", "echo it's done"])
    '"-c \\'echo it\\'\\'s done\\'"'
    """
    parts = []
    for arg in args:
        text = str(arg)
        if "\n" in text or "\r" in text:
            raise InvalidArgumentError("An HTCondor argument cannot contain a line break.")
        quoted = escape_macros(text).replace("'", "''").replace('"', '""')
        if text == "" or re.search(r"[\s']", text):
            quoted = f"'{quoted}'"
        parts.append(quoted)
    return '"' + " ".join(parts) + '"'


def _format_environment(env: Mapping[str, Any]) -> str:
    items = []
    for key, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
            raise InvalidArgumentError(f"{key!r} is not a valid environment variable name.")
        items.append(f"{key}={value}")
    return format_arguments(items)  # escapes every value's "$" too


def _format_value(key: str, value: Any) -> str:
    lower = key.lower()
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping) and lower == "environment":
        text = _format_environment(value)
    elif isinstance(value, (list, tuple)):
        if lower == "arguments":
            text = format_arguments(value)
        elif lower == "environment":
            text = format_arguments([str(v) for v in value])
        else:
            text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    if "\n" in text or "\r" in text:
        raise InvalidArgumentError(
            f"The value of submit command {key!r} contains a line break; each command "
            "must fit on one line."
        )
    return text


def _render_commands(items: Sequence[tuple[str, Any]]) -> tuple[list[str], str | None]:
    lines = []
    executable = None
    for key, value in items:
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidArgumentError(f"{key!r} is not a valid submit description command.")
        if value is None:
            continue
        text = _format_value(key, value)
        if key.lower() == "executable":
            executable = text
        lines.append(f"{key} = {text}")
    return lines, executable


def _queue_statement(queue: Any) -> str:
    if queue is None or queue == "":
        return "queue"
    if isinstance(queue, bool):
        raise InvalidArgumentError("'queue' must be a count (int) or a queue statement.")
    if isinstance(queue, int):
        if queue < 1:
            raise InvalidArgumentError(f"'queue' must be at least 1, not {queue}.")
        return f"queue {queue}"
    text = str(queue).strip()
    if "\n" in text:
        raise InvalidArgumentError("The 'queue' statement must fit on one line.")
    return text if text.lower().startswith("queue") else f"queue {text}"


def render_submit(description: str | Mapping[str, Any] | Any) -> SubmitDescription:
    """Render a submit description from text, a mapping or a :class:`condorpy.Job`.

    Parameters
    ----------
    description : str, mapping or condorpy.Job
        Text is used as given (a ``queue`` line is appended when it has none).
        A mapping gives submit commands; the key ``queue`` gives the count or
        the queue statement; ``arguments`` may be a list (new syntax) and
        ``environment`` a mapping.  A ``condorpy.Job`` gives its attributes and
        ``num_jobs``.

    Returns
    -------
    SubmitDescription

    Raises
    ------
    InvalidArgumentError
        For a key that is not a submit command, a value with a line break, or
        an unsupported type.

    Examples
    --------
    >>> print(render_submit({"executable": "/bin/echo", "arguments": ["hi", "a b"]}).text)
    executable = /bin/echo
    arguments = "hi 'a b'"
    queue
    <BLANKLINE>
    """
    if isinstance(description, str):
        text = description if description.endswith("\n") else description + "\n"
        if not _QUEUE_LINE.search(text):
            text += "queue\n"
        match = _EXECUTABLE_LINE.search(text)
        return SubmitDescription(text, match.group(1) if match else None)
    if isinstance(description, Mapping):
        items = [(k, v) for k, v in description.items() if str(k).lower() != "queue"]
        queue = next((v for k, v in description.items() if str(k).lower() == "queue"), None)
        lines, executable = _render_commands(items)
        lines.append(_queue_statement(queue))
        return SubmitDescription("\n".join(lines) + "\n", executable)
    if _is_condorpy_job(description):
        attributes = [(k, v) for k, v in description.attributes.items() if k != "job_name"]
        lines, executable = _render_commands([(k, v) for k, v in attributes if v != ""])
        lines.append(_queue_statement(int(description.num_jobs)))
        # condorpy: remote_input_files are relative to the Job's working_directory.
        base = str(getattr(description, "_cwd", ".") or ".")
        inputs = tuple(
            str(p) if os.path.isabs(str(p)) else os.path.join(base, str(p))
            for p in (description.remote_input_files or ())
        )
        return SubmitDescription("\n".join(lines) + "\n", executable, inputs)
    raise InvalidArgumentError(
        "A submit description must be text, a mapping of submit commands or a "
        f"condorpy.Job, not {type(description).__name__}."
    )


def _is_condorpy_job(value: Any) -> bool:
    try:
        from condorpy import Job
    except ImportError:  # pragma: no cover - condorpy is a dependency
        return False
    return isinstance(value, Job)


def _is_condorpy_workflow(value: Any) -> bool:
    try:
        from condorpy import Workflow
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, Workflow)


def check_relative_name(name: str, what: str = "file") -> str:
    """Return ``name`` normalised if it is a safe relative path (no ``..``, not absolute)."""
    cleaned = name[2:] if name.startswith("./") else name
    parts = cleaned.split("/")
    if (
        not cleaned
        or cleaned.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or not all(_FILE_NAME.match(p) for p in parts)
    ):
        raise InvalidArgumentError(
            f"{what} name {name!r} must be a relative path of plain names (letters, digits, "
            "'_', '-', '.'), without '..'."
        )
    return cleaned


def render_dag(dag: str | Any, submit_files: Mapping[str, Any] | None = None) -> DagFiles:
    """Render a DAG from its text (plus node submit files) or a :class:`condorpy.Workflow`.

    Parameters
    ----------
    dag : str or condorpy.Workflow
        The DAG file's text, or a Workflow whose nodes hold condorpy Jobs.
    submit_files : mapping, optional
        For a text DAG: submit file name (as named in the ``JOB`` lines) to its
        description (anything :func:`render_submit` takes).

    Returns
    -------
    DagFiles
    """
    rendered: dict[str, str] = {}
    for name, description in (submit_files or {}).items():
        rendered[check_relative_name(name, "submit file")] = render_submit(description).text
    if isinstance(dag, str):
        text = dag if dag.endswith("\n") else dag + "\n"
        return DagFiles(text, rendered)
    if not _is_condorpy_workflow(dag):
        raise InvalidArgumentError(
            f"A DAG must be the DAG file's text or a condorpy.Workflow, not {type(dag).__name__}."
        )
    text = str(dag)  # also completes the node set with every relative of its nodes
    for node in dag.node_set:
        for flag in ("dir", "noop", "done"):
            if getattr(node, flag, None):
                raise InvalidArgumentError(
                    f"DAG node {node.job.name!r} sets {flag!r}, which condorpy 0.7.0 writes "
                    "on a line of its own (DAGMan rejects it); give the DAG as text instead."
                )
        job_file = check_relative_name(str(node.job.job_file), "node submit file")
        rendered[job_file] = render_submit(node.job).text
    return DagFiles(text, rendered)
