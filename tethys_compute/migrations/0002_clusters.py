# Clusters of the cluster manager (TethysCluster config templates, local/ssh/AWS providers).

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import model_utils.fields
from django.db import migrations, models

import tethys_compute.fields


class Migration(migrations.Migration):
    dependencies = [
        ("tethys_compute", "0001_initial_schedulers"),
    ]

    operations = [
        migrations.CreateModel(
            name="Cluster",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="Unique name; it tags the cluster's machines and names its scheduler.",
                        max_length=64,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Za-z0-9_-]{1,64}$",
                                "Use 1 to 64 letters, digits, '-' or '_' (the name tags the cluster's machines).",
                                code="invalid_cluster_name",
                            )
                        ],
                        verbose_name="name",
                    ),
                ),
                (
                    "template",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The NAME of the [cluster NAME] section the cluster is made from. Empty: the config file's DEFAULT_TEMPLATE.",
                        max_length=255,
                        verbose_name="template",
                    ),
                ),
                (
                    "config_path",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The TethysCluster config file. Empty: $TETHYSCLUSTER_CONFIG, else ~/.tethyscluster/config.",
                        max_length=1024,
                        verbose_name="config file",
                    ),
                ),
                (
                    "provider",
                    models.CharField(
                        choices=[
                            ("LOC", "Local processes"),
                            ("SSH", "Existing hosts over SSH"),
                            ("AWS", "Amazon Web Services"),
                            ("AZR", "Microsoft Azure"),
                        ],
                        default="LOC",
                        help_text="Taken from the template's CLOUD_PROVIDER.",
                        max_length=3,
                        verbose_name="provider",
                    ),
                ),
                (
                    "size",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Number of nodes, the master included (TethysCluster's CLUSTER_SIZE).",
                        validators=[django.core.validators.MinValueValidator(1)],
                        verbose_name="size",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("STR", "Starting"),
                            ("RUN", "Running"),
                            ("STP", "Stopped"),
                            ("UPD", "Updating"),
                            ("DEL", "Deleting"),
                            ("ERR", "Error"),
                        ],
                        db_index=True,
                        default="STP",
                        max_length=3,
                        verbose_name="status",
                    ),
                ),
                (
                    "status_message",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="Progress of the current operation, or why the last one failed.",
                        verbose_name="status message",
                    ),
                ),
                (
                    "status_changed",
                    models.DateTimeField(blank=True, null=True, verbose_name="status changed"),
                ),
                (
                    "master_image_id",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Overrides the template's MASTER_IMAGE_ID (cloud providers).",
                        max_length=255,
                        verbose_name="master image id",
                    ),
                ),
                (
                    "node_image_id",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Overrides the template's NODE_IMAGE_ID (cloud providers).",
                        max_length=255,
                        verbose_name="node image id",
                    ),
                ),
                (
                    "master_instance_type",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Overrides the template's MASTER_INSTANCE_TYPE (cloud providers).",
                        max_length=64,
                        verbose_name="master instance type",
                    ),
                ),
                (
                    "node_instance_type",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Overrides the template's NODE_INSTANCE_TYPE (cloud providers).",
                        max_length=64,
                        verbose_name="node instance type",
                    ),
                ),
                (
                    "master_address",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Host or IP address of the master node once it runs.",
                        max_length=255,
                        verbose_name="master address",
                    ),
                ),
                (
                    "provider_state",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="What the provider needs to find the cluster again (process ids, hosts, instance ids, security group).",
                        verbose_name="provider state",
                    ),
                ),
                (
                    "aws_access_key_id",
                    tethys_compute.fields.EncryptedTextField(
                        help_text="Overrides [aws info] AWS_ACCESS_KEY_ID for this cluster. Stored encrypted.",
                        verbose_name="AWS access key id",
                    ),
                ),
                (
                    "aws_secret_access_key",
                    tethys_compute.fields.EncryptedTextField(
                        help_text="Overrides [aws info] AWS_SECRET_ACCESS_KEY for this cluster. Stored encrypted.",
                        verbose_name="AWS secret access key",
                    ),
                ),
                (
                    "scheduler",
                    models.ForeignKey(
                        blank=True,
                        help_text="The scheduler registered for this cluster when it reached running.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="clusters",
                        to="tethys_compute.scheduler",
                        verbose_name="scheduler",
                    ),
                ),
            ],
            options={
                "verbose_name": "cluster",
                "verbose_name_plural": "clusters",
                "ordering": ["name"],
            },
        ),
    ]
