"""The :class:`Cluster` record: one cluster started by the cluster manager.

A row says which template of which config file the cluster came from, which
provider runs it, how big it is and how far its lifecycle got (TethysCluster's
status codes), and holds what the provider needs to find the cluster again
from another process (``provider_state``: process ids and ports, SSH hosts,
EC2 instance ids and the security group).  Cloud credentials given per
cluster are encrypted at rest like scheduler secrets.

The row is only a record: nothing in :meth:`Cluster.save` or in a signal
contacts a machine.  :mod:`tethys_compute.clusters.service` changes clusters
and records the outcome here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from model_utils.models import TimeStampedModel

from tethys_compute.fields import EncryptedTextField, has_secret

#: What a cluster name may contain (it becomes a security group and process tag).
CLUSTER_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

validate_cluster_name = RegexValidator(
    CLUSTER_NAME_PATTERN,
    "Use 1 to 64 letters, digits, '-' or '_' (the name tags the cluster's machines).",
    code="invalid_cluster_name",
)


class ClusterStatus(models.TextChoices):
    """TethysCluster's lifecycle codes."""

    STARTING = "STR", "Starting"
    RUNNING = "RUN", "Running"
    STOPPED = "STP", "Stopped"
    UPDATING = "UPD", "Updating"
    DELETING = "DEL", "Deleting"
    ERROR = "ERR", "Error"


class ClusterProvider(models.TextChoices):
    """Where the cluster's nodes run (TethysCluster knew AWS and AZR)."""

    LOCAL = "LOC", "Local processes"
    SSH = "SSH", "Existing hosts over SSH"
    AWS = "AWS", "Amazon Web Services"
    AZURE = "AZR", "Microsoft Azure"
    HTCONDOR = "HTC", "HTCondor pool (Dask workers as jobs)"


#: ``CLOUD_PROVIDER`` of a config template (normalised) -> the model's code.
PROVIDER_CODES: dict[str, str] = {
    "local": ClusterProvider.LOCAL,
    "ssh": ClusterProvider.SSH,
    "aws": ClusterProvider.AWS,
    "azure": ClusterProvider.AZURE,
    "htcondor": ClusterProvider.HTCONDOR,
}


class Cluster(TimeStampedModel):
    """A cluster of the portal, created from a TethysCluster config template.

    Change clusters through :mod:`tethys_compute.clusters.service` (or the
    admin page and the ``clusters`` command, which call it); saving a row
    never starts, resizes or stops anything.
    """

    Status: ClassVar[type[ClusterStatus]] = ClusterStatus
    Provider: ClassVar[type[ClusterProvider]] = ClusterProvider
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("aws_access_key_id", "aws_secret_access_key")
    #: Statuses in which background work is going on.
    BUSY: ClassVar[frozenset[str]] = frozenset(
        {ClusterStatus.STARTING, ClusterStatus.UPDATING, ClusterStatus.DELETING}
    )

    name = models.CharField(
        "name",
        max_length=64,
        unique=True,
        validators=[validate_cluster_name],
        help_text="Unique name; it tags the cluster's machines and names its scheduler.",
    )
    template = models.CharField(
        "template",
        max_length=255,
        blank=True,
        default="",
        help_text="The NAME of the [cluster NAME] section the cluster is made from. Empty: "
        "the config file's DEFAULT_TEMPLATE.",
    )
    config_path = models.CharField(
        "config file",
        max_length=1024,
        blank=True,
        default="",
        help_text="The TethysCluster config file. Empty: $TETHYSCLUSTER_CONFIG, else "
        "~/.tethyscluster/config.",
    )
    provider = models.CharField(
        "provider",
        max_length=3,
        choices=ClusterProvider.choices,
        default=ClusterProvider.LOCAL,
        help_text="Taken from the template's CLOUD_PROVIDER.",
    )
    size = models.PositiveIntegerField(
        "size",
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Number of nodes, the master included (TethysCluster's CLUSTER_SIZE).",
    )
    status = models.CharField(
        "status",
        max_length=3,
        choices=ClusterStatus.choices,
        default=ClusterStatus.STOPPED,
        db_index=True,
    )
    status_message = models.TextField(
        "status message",
        blank=True,
        default="",
        help_text="Progress of the current operation, or why the last one failed.",
    )
    status_changed = models.DateTimeField("status changed", null=True, blank=True)

    master_image_id = models.CharField(
        "master image id",
        max_length=255,
        blank=True,
        default="",
        help_text="Overrides the template's MASTER_IMAGE_ID (cloud providers).",
    )
    node_image_id = models.CharField(
        "node image id",
        max_length=255,
        blank=True,
        default="",
        help_text="Overrides the template's NODE_IMAGE_ID (cloud providers).",
    )
    master_instance_type = models.CharField(
        "master instance type",
        max_length=64,
        blank=True,
        default="",
        help_text="Overrides the template's MASTER_INSTANCE_TYPE (cloud providers).",
    )
    node_instance_type = models.CharField(
        "node instance type",
        max_length=64,
        blank=True,
        default="",
        help_text="Overrides the template's NODE_INSTANCE_TYPE (cloud providers).",
    )

    master_address = models.CharField(
        "master address",
        max_length=255,
        blank=True,
        default="",
        help_text="Host or IP address of the master node once it runs.",
    )
    scheduler = models.ForeignKey(
        "tethys_compute.Scheduler",
        verbose_name="scheduler",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clusters",
        help_text="The scheduler registered for this cluster when it reached running.",
    )
    provider_state = models.JSONField(
        "provider state",
        default=dict,
        blank=True,
        help_text="What the provider needs to find the cluster again (process ids, "
        "hosts, instance ids, security group).",
    )

    aws_access_key_id = EncryptedTextField(
        "AWS access key id",
        help_text="Overrides [aws info] AWS_ACCESS_KEY_ID for this cluster. Stored encrypted.",
    )
    aws_secret_access_key = EncryptedTextField(
        "AWS secret access key",
        help_text="Overrides [aws info] AWS_SECRET_ACCESS_KEY for this cluster. Stored encrypted.",
    )

    class Meta:
        verbose_name = "cluster"
        verbose_name_plural = "clusters"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Cluster: {self.name!r} {self.provider} size={self.size} {self.status}>"

    @property
    def is_busy(self) -> bool:
        """True while a start, resize or termination is in progress."""
        return self.status in self.BUSY

    @property
    def never_started(self) -> bool:
        """True for a cluster created but never started (stopped, nothing at a provider)."""
        return self.status == ClusterStatus.STOPPED and not self.provider_state

    @property
    def status_text(self) -> str:
        """The status for people: "Not started" for a cluster never started."""
        return "Not started" if self.never_started else str(self.get_status_display())

    def has_secret(self, name: str) -> bool:
        """True when the secret field ``name`` holds a value (it is not decrypted)."""
        return has_secret(self, name)

    def set_status(self, status: str, message: str = "", **fields: Any) -> None:
        """Record ``status`` and ``message`` (and other ``fields``) in one UPDATE.

        Only the named columns are written, so a status change from a
        background thread never overwrites an edit made meanwhile elsewhere.

        Parameters
        ----------
        status : str
            One of :class:`ClusterStatus`.
        message : str
            Progress or the reason of a failure.
        **fields
            Other columns to write at the same time (``master_address``...).
        """
        now = timezone.now()
        values: dict[str, Any] = {
            "status": status,
            "status_message": message[:4000],
            "status_changed": now,
            "modified": now,
            **fields,
        }
        for key, value in values.items():
            setattr(self, key, value)
        type(self).objects.filter(pk=self.pk).update(**values)
