"""A cluster's settings, its row and its provider: the base of the ``Cluster`` class.

:class:`ClusterState` holds what every operation of a cluster reads or
writes: the template's settings (with the keyword overrides), the row of
:class:`tethys_compute.models.Cluster` that records the status and the
provider's state, and the provider built from both.  Progress and failures
are recorded on the row here; the status codes are described in
:mod:`tethys_compute.clusters.cluster`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from tethys_compute.clusters.config import MAX_CLUSTER_SIZE
from tethys_compute.clusters.exceptions import AzureNotAvailable, ClusterExists, InvalidOperation
from tethys_compute.clusters.providers import get_provider
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models.cluster import PROVIDER_CODES, ClusterStatus

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig
    from tethys_compute.clusters.plugins.base import ClusterSetup
    from tethys_compute.clusters.providers.base import Provider

__all__ = ["TAG_PREFIX", "ClusterState", "ProgressCallback", "strip_tag"]

#: The logger of every part of the Cluster (its name predates the split into modules).
logger = logging.getLogger("tethys_compute.clusters.cluster")

#: TethysCluster's prefix of security group names (``@tc-<tag>``).
TAG_PREFIX = "@tc-"
#: Template settings shown by ``Cluster`` as attributes (TethysCluster's names).
_OVERRIDE_FIELDS = (
    "master_image_id",
    "node_image_id",
    "master_instance_type",
    "node_instance_type",
)

ProgressCallback = Callable[[str, str], None]
#: Columns re-read before a status check (never ``provider_state``: the
#: provider holds that dict and changes it in place).
_STATUS_FIELDS = ["status", "status_message", "status_changed", "size"]


def strip_tag(name: str) -> str:
    """``@tc-name`` -> ``name`` (TethysCluster accepted both spellings)."""
    return name[len(TAG_PREFIX) :] if name.startswith(TAG_PREFIX) else name


class ClusterState:
    """Settings, row and provider of a cluster.

    The base of :class:`~tethys_compute.clusters.cluster.Cluster`, which documents the
    parameters.
    """

    def __init__(
        self,
        config: ClusterConfig,
        template_name: str,
        cluster_tag: str | None = None,
        record: ClusterRecord | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = config
        self.template_name = template_name
        self.template: dict[str, Any] = config.get_cluster_template(template_name)
        tag = strip_tag(cluster_tag) if cluster_tag else None
        self.cluster_tag = tag or f"cluster{datetime.datetime.now():%Y%m%d%H%M}"
        self._record = record
        self._provider: Provider | None = None
        self._plugins: list[ClusterSetup] | None = None
        #: Called as ``callback(status, message)`` on every progress step.
        self.progress_callback: ProgressCallback | None = None
        #: After ``terminate_cluster(force=True)``: what may be left at the
        #: provider because its cleanup failed ("" when all was removed).
        self.leftovers = ""
        if record is not None:
            self._apply_record(record)
        self.update(kwargs)

    # ------------------------------------------------------------ settings
    def __repr__(self) -> str:
        return f"<Cluster: {self.cluster_tag!r} ({self.template_name}, {self.cloud_provider})>"

    def __getattr__(self, name: str) -> Any:
        template = self.__dict__.get("template")
        if template is not None and name in template:
            return template[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def get(self, name: str) -> Any:
        """Return the setting ``name`` (lower-case), TethysCluster's ``Cluster.get``."""
        return self.template.get(name)

    def update(self, settings: dict[str, Any]) -> None:
        """Override template settings (only names the template knows).

        Raises
        ------
        InvalidArgumentError
            For an unknown setting name (a ``ValueError``).
        """
        unknown = sorted(set(settings) - set(self.template))
        if unknown:
            raise InvalidArgumentError(
                f"unknown cluster setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(self.template))}."
            )
        for key, value in settings.items():
            if key == "cluster_size":
                value = self._check_size(value)
            if key == "node_instance_type" and isinstance(value, list):
                value = value[-1] if value else None
            self.template[key] = value
        if "cloud_provider" in settings:
            self._provider = None

    @staticmethod
    def _check_size(value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_CLUSTER_SIZE
        ):
            raise InvalidArgumentError(
                f"cluster_size must be a whole number from 1 to {MAX_CLUSTER_SIZE} (the master "
                f"included), not {str(value)[:40]!r}."
            )
        return value

    def _apply_record(self, record: ClusterRecord) -> None:
        self.template["cluster_size"] = int(record.size)
        for field in _OVERRIDE_FIELDS:
            value = getattr(record, field)
            if value:
                self.template[field] = value

    @property
    def cloud_provider(self) -> str:
        """``local``, ``ssh``, ``aws`` or ``azure``."""
        return str(self.template["cloud_provider"])

    @property
    def cluster_size(self) -> int:
        """The number of nodes, the master included."""
        return int(self.template["cluster_size"])

    def _timeout(self) -> float:
        return float(self.template.get("start_timeout") or 300)

    @property
    def record(self) -> ClusterRecord | None:
        """The cluster's row, or None before :meth:`start` created it."""
        return self._record

    @property
    def state(self) -> dict[str, Any]:
        """The provider and plugin state persisted in the row."""
        if self._record is not None:
            return self._record.provider_state
        state: dict[str, Any] = self.__dict__.setdefault("_state", {})
        return state

    @sensitive_variables()
    def _credentials(self) -> dict[str, str]:
        record = self._record
        if record is None:
            return {}
        found = {}
        for field in ("aws_access_key_id", "aws_secret_access_key"):
            if record.has_secret(field):
                found[field] = str(getattr(record, field))
        return found

    @property
    def provider(self) -> Provider:
        """The provider of this cluster's nodes (chosen by ``CLOUD_PROVIDER``)."""
        if self._provider is None:
            try:
                self._provider = get_provider(
                    self.cloud_provider, self.config, self.template, self.state, self._credentials()
                )
            except AzureNotAvailable as exc:
                raise AzureNotAvailable(
                    f"{self.config.path}: [cluster {self.template_name}] sets CLOUD_PROVIDER = "
                    f"Azure. {exc}"
                ) from None
        return self._provider

    def _reload(self) -> None:
        """Re-read the whole row; the provider is rebuilt on the fresh state."""
        if self._record is not None:
            self._record.refresh_from_db()
            self._provider = None

    def save_state(self) -> None:
        """Write the provider state to the row (one UPDATE)."""
        record = self._record
        if record is not None:
            type(record).objects.filter(pk=record.pk).update(provider_state=record.provider_state)

    # ------------------------------------------------------------- records
    def _progress(self, status: str, message: str) -> None:
        logger.info("cluster %s: %s", self.cluster_tag, message)
        if self._record is not None:
            self._record.set_status(status, message)
        if self.progress_callback is not None:
            self.progress_callback(status, message)

    def _fail(self, exc: BaseException, doing: str) -> None:
        message = f"{doing} failed: {exc}"
        logger.error("cluster %s: %s", self.cluster_tag, message)
        if self._record is not None:
            self._record.set_status(ClusterStatus.ERROR, message)
        if self.progress_callback is not None:
            self.progress_callback(ClusterStatus.ERROR, message)

    def _ensure_record(self) -> ClusterRecord:
        if self._record is not None:
            self._reload()
            return self._record
        values: dict[str, Any] = {
            "template": self.template_name,
            "config_path": self.config.path,
            "provider": PROVIDER_CODES[self.cloud_provider],
            "size": self.cluster_size,
            "status": ClusterStatus.STARTING,
            "status_message": "queued: starting",
        }
        for field in _OVERRIDE_FIELDS:
            value = self.template.get(field)
            values[field] = str(value) if value else ""
        try:
            with transaction.atomic():
                record = ClusterRecord.objects.create(name=self.cluster_tag, **values)
        except IntegrityError:
            raise ClusterExists(self.cluster_tag) from None
        self._record = record
        self._provider = None
        return record

    def _current_status(self) -> str:
        return self._record.status if self._record is not None else ClusterStatus.STARTING

    def _begin(self, status: str, message: str) -> None:
        """Move a running (or failed) cluster to a busy ``status``."""
        record = self._record
        if record is None:
            raise InvalidOperation(f"cluster {self.cluster_tag!r} was never started.")
        record.refresh_from_db(fields=_STATUS_FIELDS)
        if record.status != status and record.status in record.BUSY:
            raise InvalidOperation(
                f"cluster {self.cluster_tag!r} is {record.get_status_display().lower()}; this "
                f"operation is not possible now. {self._way_out()}"
            )
        self._progress(status, message)

    def _way_out(self) -> str:
        """What to do about a cluster busy with another operation."""
        return (
            f"Wait for that operation to end (it is marked failed after {self._timeout():g} s "
            f"without progress), or remove the cluster with `manage.py clusters terminate "
            f"{self.cluster_tag} --force` or the admin action 'Terminate (force)'."
        )
