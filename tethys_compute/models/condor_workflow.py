"""HTCondor DAG workflows: :class:`CondorWorkflow` and its :class:`CondorWorkflowNode`."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models

from tethys_compute import condor
from tethys_compute.condor.describe import check_relative_name
from tethys_compute.exceptions import (
    InvalidArgumentError,
)
from tethys_compute.models import condor_compat
from tethys_compute.models.condor_compat import (
    CondorAttributesMixin,
    DagNodeOptions,
    RemoteIdMixin,
    WorkflowCompatMixin,
)
from tethys_compute.models.condor_job import CondorControl
from tethys_compute.models.condor_logs import (
    _condor_logs,
    _description_from,
    _merge_inputs,
    _read_remote_text,
    _store_inline_inputs,
)
from tethys_compute.models.condor_wrapper import URL_FILE, wrap_condor_description, wrapper_files
from tethys_compute.models.job import Job
from tethys_compute.status import (
    FINAL_STATUSES,
    JobStatus,
)

if TYPE_CHECKING:
    pass


class CondorWorkflow(WorkflowCompatMixin, RemoteIdMixin, CondorControl, Job):
    """A DAG of HTCondor jobs (:class:`CondorWorkflowNode`) run by DAGMan.

    Add nodes with :meth:`add_node` (or create them with ``workflow=``), give
    parents with :meth:`CondorWorkflowNode.add_parent`, then :meth:`execute`.
    ``cluster_id`` is the DAGMan job's; each node records its own.

    Examples
    --------
    >>> wf = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=s)  # doctest: +SKIP
    >>> a = wf.add_node("a", {"executable": "/bin/true"})  # doctest: +SKIP
    >>> b = wf.add_node("b", {"executable": "/bin/true"}, parents=[a])  # doctest: +SKIP
    >>> wf.execute()  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "condorworkflow"
    JOB_TYPE: ClassVar[str] = "CONDORWORKFLOW"

    input_files = models.JSONField("input files", default=list, blank=True)
    output_files = models.JSONField("output files", default=list, blank=True)
    remote_dir = models.CharField("remote directory", max_length=1024, blank=True, default="")
    cluster_id = models.PositiveIntegerField("DAGMan cluster id", null=True, blank=True)
    max_jobs = models.PositiveIntegerField(
        "max jobs", null=True, blank=True, help_text="DAGMan's -maxjobs; empty: no limit."
    )
    max_jobs_throttles = models.JSONField(
        "max jobs per category",
        default=dict,
        blank=True,
        help_text="DAGMan's MAXJOBS per node category (add_max_jobs_throttle).",
    )

    class Meta:
        verbose_name = "Condor workflow"
        verbose_name_plural = "Condor workflows"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _store_inline_inputs(self)
        super().save(*args, **kwargs)

    @property
    def nodes(self) -> models.QuerySet[CondorWorkflowNode]:
        return self.node_set.order_by("id")

    def add_node(
        self,
        name: str,
        submit_description: Any,
        parents: Iterable[CondorWorkflowNode] = (),
        *,
        retry: int | None = None,
    ) -> CondorWorkflowNode:
        """Add a node (a job of the DAG) and return it.

        Parameters
        ----------
        name : str
            The node's name in the DAG (letters, digits, ``_``, ``-``, ``.``).
        submit_description : mapping, str or condorpy.Job
            The node job's submit description.
        parents : iterable of CondorWorkflowNode
            Nodes that must finish first.
        retry : int, optional
            DAGMan's ``RETRY`` count.
        """
        if self.pk is None:
            self.save()
        node = CondorWorkflowNode(workflow=self, name=name, retry=retry)
        node.set_description(submit_description)
        node.save()
        for parent in parents:
            node.add_parent(parent)
        return node

    def get_node(self, name: str) -> CondorWorkflowNode | None:
        """The node called ``name`` (Tethys Platform's ``get_job``), or None."""
        return self.node_set.filter(name=name).first()

    def render_dag(self) -> tuple[str, dict[str, Any]]:
        """The DAG file's text and each node's submit description by file name."""
        nodes = list(self.node_set.order_by("id").prefetch_related("parent_nodes"))
        if not nodes:
            raise InvalidArgumentError(f"Workflow {self.pk} ({self.name!r}) has no nodes.")
        lines: list[str] = []
        files: dict[str, Any] = {}
        for node in nodes:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", node.name):
                raise InvalidArgumentError(
                    f"Node name {node.name!r} must be letters, digits, '_', '-' or '.'."
                )
            sub = check_relative_name(f"{node.name}.sub", "node submit file")
            submit = condor_compat.expand_template(node.submit_description, node.name)
            description, _ = wrap_condor_description(self, submit, node.name)
            files[sub] = description
            lines.append(f"JOB {node.name} {sub}" + condor_compat.node_job_suffix(node))
            if node.retry:
                lines.append(
                    f"RETRY {node.name} {int(node.retry)}" + condor_compat.retry_suffix(node)
                )
            lines += condor_compat.node_dag_lines(node)
        for node in nodes:
            parents = sorted(p.name for p in node.parent_nodes.all())
            if parents:
                lines.append(f"PARENT {' '.join(parents)} CHILD {node.name}")
        lines += condor_compat.throttle_lines(self.max_jobs_throttles)
        return "\n".join(lines) + "\n", files

    def _execute(self, *args: Any, **kwargs: Any) -> list[str]:
        dag_text, files = self.render_dag()
        inputs: Any = self.input_files
        nodes = list(self.node_set.all())
        node_inputs = [p for n in nodes for p in n.input_files or ()]
        expanded = [(n, condor_compat.expand_template(n.submit_description, n.name)) for n in nodes]
        markers = condor_compat.directory_markers(d for _, d in expanded)
        url = self.get_callback_url()
        pushes = wrapper_files(url) if url else {}
        for node, description in expanded:
            markers.update(condor_compat.executable_copy(description, node.input_files))
            markers.update(condor_compat.into_initialdir(description, pushes))
        if node_inputs or markers:
            inputs = _merge_inputs(inputs, {})
            inputs.update(_merge_inputs(node_inputs, markers))
        if pushes:
            inputs = _merge_inputs(inputs, pushes)
        # The callback URL (and its copies in initialdirs) readable by its owner only.
        private = [name for name in [*pushes, *markers] if posixpath.basename(name) == URL_FILE]
        result = condor.submit_dag(self.condor_host, dag_text, files, inputs, private_files=private)
        self.remote_dir = result.remote_dir
        self.cluster_id = result.cluster_id
        # Pending until DAGMan submits them (the refresher then sees their node jobs).
        self.node_set.update(
            status_code=JobStatus.PENDING, cluster_id=None, exit_code=None, status_message=""
        )
        self.node_set.filter(parent_nodes__isnull=False).update(
            status_message="waiting for parents"
        )
        return ["remote_dir", "cluster_id"]

    def _stop(self) -> None:
        super()._stop()
        self._stopped_here()

    def _stopped_here(self) -> None:
        self.node_set.exclude(status_code__in=FINAL_STATUSES).update(status_code=JobStatus.ABORTED)

    def _fetch_logs(self) -> dict[str, Any]:
        host = self.condor_host
        logs: dict[str, Any] = {"stdout": "", "stderr": "", "nodes": {}}
        for node in self.node_set.order_by("id"):
            description = condor_compat.log_paths_description(node.submit_description, node.name)
            logs["nodes"][node.name] = _condor_logs(
                host, self.remote_dir, description, node.cluster_id, 1
            )
        if self.remote_dir:
            dag_out = posixpath.join(self.remote_dir, "workflow.dag.dagman.out")
            logs["stdout"] = _read_remote_text(host, dag_out, limit=200_000)
        return logs

    def _forget_run(self) -> None:
        self.cluster_id = None
        type(self).objects.filter(pk=self.pk).update(cluster_id=None)
        self.node_set.update(status_code=JobStatus.PENDING, cluster_id=None, exit_code=None)


class CondorWorkflowNode(CondorAttributesMixin, DagNodeOptions):
    """One job of a :class:`CondorWorkflow` (Tethys Platform's ``CondorWorkflowJobNode``).

    Its status uses the same codes as jobs; it is written by the refresher
    and by the node's pushes, and shown on the workflow's admin page.
    """

    workflow = models.ForeignKey(
        CondorWorkflow, verbose_name="workflow", on_delete=models.CASCADE, related_name="node_set"
    )
    name = models.CharField("name", max_length=255)
    submit_description = models.JSONField("submit description", default=dict, blank=True)
    parent_nodes = models.ManyToManyField(
        "self", verbose_name="parents", symmetrical=False, blank=True, related_name="children"
    )
    retry = models.PositiveSmallIntegerField("retries", null=True, blank=True)
    cluster_id = models.PositiveIntegerField("cluster id", null=True, blank=True)
    status_code = models.CharField(
        "status", max_length=3, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    status_message = models.TextField("status message", blank=True, default="")
    exit_code = models.IntegerField("exit code", null=True, blank=True)
    updated_at = models.DateTimeField("updated", null=True, blank=True)

    class Meta:
        verbose_name = "workflow node"
        verbose_name_plural = "workflow nodes"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="tc_node_unique_name"),
        ]

    #: Tethys Platform: a node's files are relative to the workflow's directory.
    workspace = "."

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_code_display()})"

    @property
    def status(self) -> str:
        return JobStatus(self.status_code).label

    @property
    def type(self) -> str:
        """Tethys Platform's node type: every node here is a ``"JOB"`` node."""
        return "JOB"

    @property
    def parents(self) -> models.QuerySet[CondorWorkflowNode]:
        return self.parent_nodes.all()

    def add_parent(self, parent: CondorWorkflowNode) -> None:
        """Make ``parent`` run before this node."""
        if parent.workflow_id != self.workflow_id:
            raise InvalidArgumentError("A node's parent must belong to the same workflow.")
        self.parent_nodes.add(parent)

    def set_description(self, value: Any) -> None:
        data, _inputs, _procs = _description_from(value)
        self.submit_description = data
