# Jobs: the base Job record, its kinds (basic, Condor job, Condor workflow + nodes, Dask job).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import tethys_compute.models.job


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("tethys_compute", "0002_clusters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Job",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "label",
                    models.CharField(
                        db_index=True,
                        help_text="The app's namespace for its jobs.",
                        max_length=255,
                        verbose_name="label",
                    ),
                ),
                ("name", models.CharField(max_length=1024, verbose_name="name")),
                (
                    "description",
                    models.TextField(blank=True, default="", verbose_name="description"),
                ),
                (
                    "workspace",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Local directory for the job's files (results are fetched here).",
                        max_length=1024,
                        verbose_name="workspace",
                    ),
                ),
                (
                    "scheduler_name",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Name of the scheduler when the job was created (kept after it is deleted).",
                        max_length=255,
                        verbose_name="scheduler name",
                    ),
                ),
                (
                    "status_code",
                    models.CharField(
                        choices=[
                            ("PEN", "Pending"),
                            ("SUB", "Submitted"),
                            ("RUN", "Running"),
                            ("VAR", "Various"),
                            ("PAS", "Paused"),
                            ("VCP", "Various-Complete"),
                            ("RES", "Results-Ready"),
                            ("COM", "Complete"),
                            ("ERR", "Error"),
                            ("ABT", "Aborted"),
                        ],
                        db_index=True,
                        default="PEN",
                        max_length=3,
                        verbose_name="status",
                    ),
                ),
                (
                    "status_message",
                    models.TextField(blank=True, default="", verbose_name="status message"),
                ),
                (
                    "status_version",
                    models.PositiveIntegerField(
                        default=0,
                        editable=False,
                        help_text="Incremented by every status change; updates are conditional on it.",
                        verbose_name="status version",
                    ),
                ),
                (
                    "status_changed_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="status changed"
                    ),
                ),
                (
                    "last_refresh_ok_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="last good refresh"
                    ),
                ),
                (
                    "refresh_error",
                    models.TextField(
                        blank=True,
                        default="",
                        editable=False,
                        help_text="Why the last refresh could not reach the scheduler (empty when it could).",
                        verbose_name="last refresh problem",
                    ),
                ),
                (
                    "extended_properties",
                    models.JSONField(blank=True, default=dict, verbose_name="extended properties"),
                ),
                (
                    "process_results_function",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Import path of a function called with the job once it has finished well.",
                        max_length=1024,
                        verbose_name="results callback",
                    ),
                ),
                (
                    "callback_base_url",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Where the job reports its status, e.g. https://portal.example.com/compute/. Empty: no pushes; the refresher polls.",
                        max_length=1024,
                        verbose_name="callback base URL",
                    ),
                ),
                (
                    "callback_key",
                    models.CharField(
                        blank=True,
                        default="",
                        editable=False,
                        max_length=64,
                        verbose_name="callback key",
                    ),
                ),
                (
                    "callback_seqs",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        editable=False,
                        verbose_name="callback sequence numbers",
                    ),
                ),
                ("creation_time", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "execute_time",
                    models.DateTimeField(blank=True, null=True, verbose_name="submitted"),
                ),
                ("start_time", models.DateTimeField(blank=True, null=True, verbose_name="started")),
                (
                    "completion_time",
                    models.DateTimeField(blank=True, null=True, verbose_name="completed"),
                ),
                (
                    "logs",
                    models.JSONField(
                        blank=True,
                        editable=False,
                        help_text="stdout/stderr kept once the job has finished.",
                        null=True,
                        verbose_name="cached logs",
                    ),
                ),
                (
                    "groups",
                    models.ManyToManyField(
                        blank=True,
                        related_name="tethys_compute_jobs",
                        to="auth.group",
                        verbose_name="groups",
                    ),
                ),
                (
                    "scheduler",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=tethys_compute.models.job.protect_active_jobs,
                        related_name="jobs",
                        to="tethys_compute.scheduler",
                        verbose_name="scheduler",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tethys_compute_jobs",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "job",
                "verbose_name_plural": "jobs",
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="BasicJob",
            fields=[
                (
                    "job_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="tethys_compute.job",
                    ),
                ),
            ],
            options={
                "verbose_name": "basic job",
                "verbose_name_plural": "basic jobs",
            },
            bases=("tethys_compute.job",),
        ),
        migrations.CreateModel(
            name="CondorJob",
            fields=[
                (
                    "job_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="tethys_compute.job",
                    ),
                ),
                (
                    "submit_description",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Submit commands, or text.",
                        verbose_name="submit description",
                    ),
                ),
                (
                    "input_files",
                    models.JSONField(blank=True, default=list, verbose_name="input files"),
                ),
                (
                    "output_files",
                    models.JSONField(blank=True, default=list, verbose_name="output files"),
                ),
                (
                    "remote_dir",
                    models.CharField(
                        blank=True, default="", max_length=1024, verbose_name="remote directory"
                    ),
                ),
                (
                    "cluster_id",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="cluster id"),
                ),
                ("num_jobs", models.PositiveIntegerField(default=1, verbose_name="procs")),
            ],
            options={
                "verbose_name": "Condor job",
                "verbose_name_plural": "Condor jobs",
            },
            bases=("tethys_compute.job",),
        ),
        migrations.CreateModel(
            name="CondorWorkflow",
            fields=[
                (
                    "job_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="tethys_compute.job",
                    ),
                ),
                (
                    "input_files",
                    models.JSONField(blank=True, default=list, verbose_name="input files"),
                ),
                (
                    "output_files",
                    models.JSONField(blank=True, default=list, verbose_name="output files"),
                ),
                (
                    "remote_dir",
                    models.CharField(
                        blank=True, default="", max_length=1024, verbose_name="remote directory"
                    ),
                ),
                (
                    "cluster_id",
                    models.PositiveIntegerField(
                        blank=True, null=True, verbose_name="DAGMan cluster id"
                    ),
                ),
                (
                    "max_jobs",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="DAGMan's -maxjobs; empty: no limit.",
                        null=True,
                        verbose_name="max jobs",
                    ),
                ),
            ],
            options={
                "verbose_name": "Condor workflow",
                "verbose_name_plural": "Condor workflows",
            },
            bases=("tethys_compute.job",),
        ),
        migrations.CreateModel(
            name="DaskJob",
            fields=[
                (
                    "job_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="tethys_compute.job",
                    ),
                ),
                (
                    "function",
                    models.CharField(
                        blank=True, default="", max_length=1024, verbose_name="callable"
                    ),
                ),
                (
                    "args",
                    models.JSONField(blank=True, default=list, verbose_name="positional arguments"),
                ),
                (
                    "kwargs",
                    models.JSONField(blank=True, default=dict, verbose_name="keyword arguments"),
                ),
                (
                    "key",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        default="",
                        max_length=255,
                        verbose_name="task key",
                    ),
                ),
            ],
            options={
                "verbose_name": "Dask job",
                "verbose_name_plural": "Dask jobs",
            },
            bases=("tethys_compute.job",),
        ),
        migrations.CreateModel(
            name="CondorWorkflowNode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=255, verbose_name="name")),
                (
                    "submit_description",
                    models.JSONField(blank=True, default=dict, verbose_name="submit description"),
                ),
                (
                    "retry",
                    models.PositiveSmallIntegerField(blank=True, null=True, verbose_name="retries"),
                ),
                (
                    "cluster_id",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="cluster id"),
                ),
                (
                    "status_code",
                    models.CharField(
                        choices=[
                            ("PEN", "Pending"),
                            ("SUB", "Submitted"),
                            ("RUN", "Running"),
                            ("VAR", "Various"),
                            ("PAS", "Paused"),
                            ("VCP", "Various-Complete"),
                            ("RES", "Results-Ready"),
                            ("COM", "Complete"),
                            ("ERR", "Error"),
                            ("ABT", "Aborted"),
                        ],
                        default="PEN",
                        max_length=3,
                        verbose_name="status",
                    ),
                ),
                (
                    "status_message",
                    models.TextField(blank=True, default="", verbose_name="status message"),
                ),
                ("exit_code", models.IntegerField(blank=True, null=True, verbose_name="exit code")),
                ("updated_at", models.DateTimeField(blank=True, null=True, verbose_name="updated")),
                (
                    "parent_nodes",
                    models.ManyToManyField(
                        blank=True,
                        related_name="children",
                        to="tethys_compute.condorworkflownode",
                        verbose_name="parents",
                    ),
                ),
                (
                    "workflow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="node_set",
                        to="tethys_compute.condorworkflow",
                        verbose_name="workflow",
                    ),
                ),
            ],
            options={
                "verbose_name": "workflow node",
                "verbose_name_plural": "workflow nodes",
                "ordering": ["id"],
            },
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["label", "status_code"], name="tc_job_label_status"),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["scheduler", "status_code"], name="tc_job_sched_status"),
        ),
        migrations.AddConstraint(
            model_name="condorworkflownode",
            constraint=models.UniqueConstraint(
                fields=("workflow", "name"), name="tc_node_unique_name"
            ),
        ),
    ]
