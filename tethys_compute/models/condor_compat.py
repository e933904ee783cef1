"""Tethys Platform's names on Condor jobs, workflows and workflow nodes.

Tethys Platform's Condor models are built on condorpy; apps use these names of
them, which work here on the stored submit description:

* jobs (and workflow nodes): the keywords ``attributes``,
  ``condorpy_template_name`` and ``remote_input_files``; the properties
  ``attributes`` and ``remote_input_files``; ``get_attribute`` /
  ``set_attribute``; ``initial_dir``; ``remote_id``;
* jobs and workflows: ``statuses`` (counts of the parts by HTCondor state);
* workflows: ``get_job(name)`` and ``add_max_jobs_throttle(category, n)``;
* nodes: DAGMan's per-node options (``pre_script``, ``post_script``,
  ``variables``, ``priority``, ``category``, ``retry_unless_exit_value``,
  ``pre_skip``, ``abort_dag_on``, ``dir``, ``noop``, ``done``), written into
  the DAG file by :func:`node_dag_lines`.

A condorpy template (``condorpy_template_name="vanilla_transfer_files"``) is
read from condorpy when it is installed; its private macros
(``$(job_name)``, ``$(logdir)``) are expanded here, because HTCondor does not
know them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import models

from tethys_compute import condor
from tethys_compute.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from tethys_compute.models.job import CondorWorkflowNode

__all__ = [
    "CondorAttributesMixin",
    "DagNodeOptions",
    "condorpy_template",
    "node_dag_lines",
]

_MACRO = re.compile(r"\$\((job_name|logdir|cluster|process)\)", re.IGNORECASE)


def condorpy_template(name: str | None) -> dict[str, Any]:
    """The submit commands of condorpy's template ``name`` (``base`` when unknown).

    Raises
    ------
    InvalidArgumentError
        When condorpy is not installed (``pip install condorpy``).
    """
    try:
        from condorpy import Templates
    except ImportError:  # pragma: no cover - condorpy is a dependency of the tests
        raise InvalidArgumentError(
            f"condorpy_template_name={name!r} needs condorpy: pip install condorpy, or give "
            "the submit commands as attributes={...}."
        ) from None
    template = getattr(Templates, name or "base", None)
    if not isinstance(template, Mapping):
        template = Templates.base
    return dict(template)


def expand_template(attributes: Any, job_name: str) -> Any:
    """Submit commands with condorpy's own macros expanded and empty commands left out.

    Text descriptions, and mappings without condorpy's ``job_name`` or
    ``logdir`` commands, are returned as they are.
    """
    if not isinstance(attributes, Mapping) or not {"job_name", "logdir"} & set(attributes):
        return attributes
    name = job_name.replace(" ", "_")
    logdir = str(attributes.get("logdir") or "logs")

    def expand(value: Any) -> Any:
        if not isinstance(value, str):
            return value

        def one(match: re.Match[str]) -> str:
            macro = match.group(1).lower()
            if macro == "job_name":
                return name
            if macro == "logdir":
                return logdir
            return "$(Cluster)" if macro == "cluster" else "$(Process)"

        return _MACRO.sub(one, value)

    return {
        key: expand(value)
        for key, value in attributes.items()
        if key not in ("job_name", "logdir") and value not in ("", None)
    }


class CondorAttributesMixin:
    """Tethys Platform's condorpy names on a Condor job or workflow node (no table)."""

    if TYPE_CHECKING:
        name: str
        workspace: str
        submit_description: Any

        def set_description(self, value: Any) -> None: ...

    def __init__(
        self,
        *args: Any,
        attributes: Mapping[str, Any] | None = None,
        condorpy_template_name: str | None = None,
        remote_input_files: Iterable[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if attributes is not None or condorpy_template_name is not None:
            # condorpy's macros ($(job_name)...) are expanded at submission, with the final
            # name ("myjob_{id}" is only known once saved).
            merged = condorpy_template(condorpy_template_name) if condorpy_template_name else {}
            merged.update(dict(attributes or {}))
            self.set_description(merged)
        if remote_input_files is not None:
            self.remote_input_files = remote_input_files

    @classmethod
    def get_condorpy_template(cls, template_name: str | None) -> dict[str, Any]:
        """condorpy's template ``template_name`` (``base`` when unknown), as Tethys has it."""
        return condorpy_template(template_name)

    @property
    def attributes(self) -> dict[str, Any]:
        """The submit commands (the submit description as a mapping)."""
        return self._mapping()

    @attributes.setter
    def attributes(self, value: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(
                f"attributes must be a mapping of submit commands, not {type(value).__name__}."
            )
        self.set_description(dict(value))

    def get_attribute(self, attribute: str) -> Any:
        """The value of one submit command, or None."""
        return self._mapping().get(attribute)

    def set_attribute(self, attribute: str, value: Any) -> None:
        """Set one submit command (saved with the job)."""
        description = self._mapping()
        description[attribute] = value
        self.submit_description = description

    def _mapping(self) -> dict[str, Any]:
        description = self.submit_description
        if isinstance(description, str):
            raise InvalidArgumentError(
                "This job's submit description is text; give it as a mapping of submit "
                "commands to read or set single commands."
            )
        return dict(description or {})

    @property
    def remote_input_files(self) -> list[str]:
        """Local files uploaded with the job (Tethys' name of ``input_files``)."""
        inputs: Any = getattr(self, "input_files", None) or []
        if isinstance(inputs, Mapping):
            return [str(v) for v in inputs.values()]
        return [str(p) for p in inputs]

    @remote_input_files.setter
    def remote_input_files(self, value: Iterable[Any]) -> None:
        self.input_files = [str(p) for p in value or ()]

    @property
    def initial_dir(self) -> str:
        """The job's local directory for its files: the workspace (and ``initialdir``)."""
        initialdir = ""
        if not isinstance(self.submit_description, str):
            initialdir = str((self.submit_description or {}).get("initialdir") or "")
        return (
            posixpath.join(self.workspace or ".", initialdir)
            if initialdir
            else (self.workspace or ".")
        )


class RemoteIdMixin:
    """``remote_id`` and ``statuses`` of Condor jobs and workflows (no table)."""

    if TYPE_CHECKING:
        remote_dir: str
        cluster_id: int | None

        @property
        def condor_host(self) -> Any: ...

    @property
    def remote_id(self) -> str | None:
        """The id of the job's remote directory (its last path part), None before submission."""
        return posixpath.basename(self.remote_dir.rstrip("/")) if self.remote_dir else None

    @property
    def statuses(self) -> dict[str, int]:
        """How many of the job's procs (a workflow: node jobs) are in each HTCondor state.

        Asks the submit host (one query).  Keys are Tethys' (condorpy's):
        ``Unexpanded``, ``Idle``, ``Running``, ``Removed``, ``Completed``,
        ``Held``, ``Submission_err``.
        """
        counts = dict.fromkeys(
            ("Unexpanded", "Idle", "Running", "Removed", "Completed", "Held", "Submission_err"), 0
        )
        if self.cluster_id is None:
            return counts
        infos = condor.job_statuses(self.condor_host, [self.cluster_id])
        names = {
            "IDLE": "Idle",
            "RUNNING": "Running",
            "REMOVED": "Removed",
            "COMPLETED": "Completed",
            "HELD": "Held",
            "TRANSFERRING_OUTPUT": "Running",
            "SUSPENDED": "Running",
        }
        for info in _infos(infos):
            key = names.get(str(getattr(info.status, "name", info.status)).upper(), "Unexpanded")
            counts[key] += 1
        return counts


def _infos(answer: Any) -> list[Any]:
    if isinstance(answer, Mapping):
        return list(answer.values())
    return list(answer or [])


class DagNodeOptions(models.Model):
    """DAGMan's options of a workflow node (Tethys Platform's node fields); abstract."""

    #: Tethys Platform's node types (every node here is a ``JOB`` node).
    TYPES = (
        ("JOB", "JOB"),
        ("DAT", "DATA"),
        ("SUB", "SUBDAG"),
        ("SPL", "SPLICE"),
        ("FIN", "FINAL"),
    )
    TYPE_DICT = {name: code for code, name in TYPES}

    pre_script = models.CharField("PRE script", max_length=1024, blank=True, default="")
    pre_script_args = models.CharField("PRE arguments", max_length=1024, blank=True, default="")
    post_script = models.CharField("POST script", max_length=1024, blank=True, default="")
    post_script_args = models.CharField("POST arguments", max_length=1024, blank=True, default="")
    variables = models.JSONField("VARS", default=dict, blank=True)
    priority = models.IntegerField("priority", null=True, blank=True)
    category = models.CharField("category", max_length=128, blank=True, default="")
    retry_unless_exit_value = models.IntegerField("retry unless exit", null=True, blank=True)
    pre_skip = models.IntegerField("PRE_SKIP exit code", null=True, blank=True)
    abort_dag_on = models.IntegerField("ABORT-DAG-ON exit code", null=True, blank=True)
    abort_dag_on_return_value = models.IntegerField(
        "ABORT-DAG-ON return value", null=True, blank=True
    )
    dir = models.CharField("directory", max_length=1024, blank=True, default="")
    noop = models.BooleanField("no-op", default=False)
    done = models.BooleanField("done", default=False)
    input_files = models.JSONField(
        "input files",
        default=list,
        blank=True,
        help_text="Local files uploaded with the workflow for this node (Tethys' "
        "remote_input_files).",
    )

    class Meta:
        abstract = True


def _word(value: str, what: str) -> str:
    if not value or re.search(r"[\s\"']", value):
        raise InvalidArgumentError(
            f"{what} {value!r} must be one word (no spaces or quotes) for the DAG file."
        )
    return value


def node_job_suffix(node: CondorWorkflowNode) -> str:
    """What follows ``JOB name file`` for a node: ``DIR d``, ``NOOP``, ``DONE``."""
    words = []
    if node.dir:
        words += ["DIR", _word(node.dir, "dir")]
    if node.noop:
        words.append("NOOP")
    if node.done:
        words.append("DONE")
    return (" " + " ".join(words)) if words else ""


def node_dag_lines(node: CondorWorkflowNode) -> list[str]:
    """The DAG lines of a node's options (``SCRIPT``, ``VARS``, ``PRIORITY``, ...)."""
    name = node.name
    lines = []
    for when, script, args in (
        ("PRE", node.pre_script, node.pre_script_args),
        ("POST", node.post_script, node.post_script_args),
    ):
        if script:
            lines.append(f"SCRIPT {when} {name} {_word(script, when + ' script')} {args}".rstrip())
    if node.variables:
        pairs = []
        for key, value in dict(node.variables).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", str(key)):
                raise InvalidArgumentError(f"VARS name {key!r} of node {name!r} is not valid.")
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            pairs.append(f'{key}="{text}"')
        lines.append(f"VARS {name} " + " ".join(pairs))
    if node.priority is not None:
        lines.append(f"PRIORITY {name} {int(node.priority)}")
    if node.category:
        lines.append(f"CATEGORY {name} {_word(node.category, 'category')}")
    if node.pre_skip is not None:
        lines.append(f"PRE_SKIP {name} {int(node.pre_skip)}")
    if node.abort_dag_on is not None:
        line = f"ABORT-DAG-ON {name} {int(node.abort_dag_on)}"
        if node.abort_dag_on_return_value is not None:
            line += f" RETURN {int(node.abort_dag_on_return_value)}"
        lines.append(line)
    return lines


def retry_suffix(node: CondorWorkflowNode) -> str:
    """`` UNLESS-EXIT v`` for a node's RETRY line, when it has one."""
    if node.retry_unless_exit_value is None:
        return ""
    return f" UNLESS-EXIT {int(node.retry_unless_exit_value)}"


def throttle_lines(throttles: Mapping[str, Any]) -> list[str]:
    """``MAXJOBS category n`` lines of a workflow's category throttles."""
    return [
        f"MAXJOBS {_word(str(category), 'category')} {int(limit)}"
        for category, limit in sorted(dict(throttles or {}).items())
    ]


#: Tethys' (condorpy's) state names of the stored node statuses.
_NODE_STATE = {
    "PEN": "Unexpanded",
    "SUB": "Idle",
    "PAS": "Held",
    "RUN": "Running",
    "VAR": "Running",
    "VCP": "Running",
    "RES": "Completed",
    "COM": "Completed",
    "ERR": "Held",
    "ABT": "Removed",
    "OTH": "Unexpanded",
}


class WorkflowCompatMixin:
    """``get_job``, ``add_max_jobs_throttle`` and ``statuses`` of a workflow (no table)."""

    if TYPE_CHECKING:
        pk: Any
        max_jobs_throttles: Any
        node_set: Any

        def save(self, *args: Any, **kwargs: Any) -> None: ...

    def get_job(self, job_name: str) -> CondorWorkflowNode | None:
        """The node called ``job_name``, or None (Tethys Platform's name)."""
        return self.node_set.filter(name=job_name).first()  # type: ignore[no-any-return]

    def add_max_jobs_throttle(self, category: str, max_jobs: int) -> None:
        """Run at most ``max_jobs`` nodes of ``category`` at once (DAGMan's ``MAXJOBS``).

        Kept in ``max_jobs_throttles``; saved when the workflow is saved or
        executed.
        """
        _word(str(category), "category")
        if int(max_jobs) < 1:
            raise InvalidArgumentError(f"max_jobs of category {category!r} must be at least 1.")
        self.max_jobs_throttles = {**dict(self.max_jobs_throttles or {}), category: int(max_jobs)}

    @property
    def statuses(self) -> dict[str, int]:
        """How many nodes are in each state (Tethys' keys), from the stored node statuses."""
        counts = dict.fromkeys(
            ("Unexpanded", "Idle", "Running", "Removed", "Completed", "Held", "Submission_err"), 0
        )
        if self.pk is None:
            return counts
        for code in self.node_set.values_list("status_code", flat=True):
            counts[_NODE_STATE.get(code, "Unexpanded")] += 1
        return counts


def directories_to_create(description: Any) -> list[str]:
    """Relative directories a submit description needs before ``condor_submit``.

    condorpy's templates run a job in ``initialdir`` (the job's name) and
    write its logs into ``logs/`` there; HTCondor needs both to exist.  Paths
    with macros other than the cluster and proc ids are left alone.
    """
    if not isinstance(description, Mapping):
        return []
    lower = {str(k).lower(): v for k, v in description.items()}
    initialdir = str(lower.get("initialdir") or "")
    if initialdir.startswith("/") or "$(" in initialdir or ".." in initialdir.split("/"):
        return []
    found = {initialdir} if initialdir else set()
    for key in ("output", "error", "log"):
        value = str(lower.get(key) or "")
        folder = posixpath.dirname(value)
        if not folder or value.startswith("/") or ".." in folder.split("/"):
            continue
        if "$(" in folder:
            continue
        found.add(posixpath.join(initialdir, folder) if initialdir else folder)
    return sorted(found)


def directory_markers(descriptions: Iterable[Any]) -> dict[str, Any]:
    """Empty marker files that make the upload create :func:`directories_to_create`."""
    return {
        f"{folder}/.tethys-dir": b""
        for description in descriptions
        for folder in directories_to_create(description)
    }


def log_paths_description(description: Any, job_name: str) -> Any:
    """A description whose ``output``/``error``/``log`` are relative to the job's directory.

    (With ``initialdir``, HTCondor reads those paths relative to it.)
    """
    expanded = expand_template(description, job_name)
    if not isinstance(expanded, Mapping):
        return expanded
    initialdir = str(expanded.get("initialdir") or "")
    if not initialdir or initialdir.startswith("/") or "$(" in initialdir:
        return expanded
    moved = dict(expanded)
    for key in ("output", "error", "log"):
        value = str(moved.get(key) or "")
        if value and not value.startswith("/"):
            moved[key] = posixpath.join(initialdir, value)
    return moved


def executable_copy(description: Any, input_files: Any) -> dict[str, str]:
    """The uploaded executable once more inside ``initialdir`` (name to local path).

    A job of condorpy's templates names its executable relative to the remote
    directory its inputs are uploaded to, and runs in ``initialdir``; some
    HTCondor versions look for the executable in ``initialdir``.  With a copy
    in both places, either finds it.
    """
    if not isinstance(description, Mapping):
        return {}
    lower = {str(k).lower(): v for k, v in description.items()}
    initialdir = str(lower.get("initialdir") or "")
    executable = str(lower.get("executable") or "")
    if not initialdir or not executable or "/" in executable or "$(" in initialdir:
        return {}
    if initialdir.startswith("/") or ".." in initialdir.split("/"):
        return {}
    sources = input_files.values() if isinstance(input_files, Mapping) else input_files or ()
    for source in sources:
        if isinstance(source, str) and posixpath.basename(source) == executable:
            return {posixpath.join(initialdir, executable): source}
    return {}


def into_initialdir(description: Any, files: Mapping[str, Any]) -> dict[str, Any]:
    """``files`` (name to bytes or path) once more inside a relative ``initialdir``.

    HTCondor reads ``transfer_input_files`` (and the callback wrapper added
    to them) relative to ``initialdir``; files uploaded to the remote
    directory are put there too.
    """
    if not isinstance(description, Mapping) or not files:
        return {}
    lower = {str(k).lower(): v for k, v in description.items()}
    initialdir = str(lower.get("initialdir") or "")
    if not initialdir or initialdir.startswith("/") or "$(" in initialdir:
        return {}
    if ".." in initialdir.split("/"):
        return {}
    return {posixpath.join(initialdir, name): source for name, source in files.items()}
