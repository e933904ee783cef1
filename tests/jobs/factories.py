"""Many job rows quickly, for query-count tests and the benchmark.

Multi-table inheritance rules out ``bulk_create`` on the kinds, so the base
rows are bulk-created and the kind rows inserted with one ``executemany`` per
kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import BasicJob, CondorJob, DaskJob, Job, Scheduler

STATUSES = [JobStatus.SUBMITTED, JobStatus.RUNNING, JobStatus.COMPLETE, JobStatus.ERROR]


def bulk_create_jobs(
    count: int,
    *,
    label: str = "bulk",
    user: Any = None,
    condor: Scheduler | None = None,
    dask: Scheduler | None = None,
    cluster_ids: Sequence[int] = (),
    status: str | None = None,
) -> list[int]:
    """Create ``count`` jobs cycling basic / Condor / Dask; return their ids.

    With ``cluster_ids``, every job is a Condor job of ``condor`` with those
    cluster ids (in order) and ``status`` (default Submitted).
    """
    now = timezone.now()
    if cluster_ids and status is None:
        status = JobStatus.SUBMITTED
    kinds = ["condor"] * count if cluster_ids else ["basic", "condor", "dask"]
    with transaction.atomic():
        rows = Job.objects.bulk_create(
            [
                Job(
                    label=label,
                    name=f"{label}-{i}",
                    user=user,
                    scheduler=(
                        condor
                        if kinds[i % len(kinds)] == "condor"
                        else dask
                        if kinds[i % len(kinds)] == "dask"
                        else None
                    ),
                    scheduler_name="",
                    status_code=status or STATUSES[i % len(STATUSES)],
                    status_changed_at=now,
                    creation_time=now,
                )
                for i in range(count)
            ],
            batch_size=500,
        )
        ids = [r.pk for r in rows]
        if None in ids:
            ids = list(Job.objects.filter(label=label).order_by("id").values_list("pk", flat=True))
        tables = {
            "basic": (BasicJob._meta.db_table, ["job_ptr_id"], lambda pk, i: [pk]),
            "condor": (
                CondorJob._meta.db_table,
                [
                    "job_ptr_id",
                    "submit_description",
                    "input_files",
                    "output_files",
                    "remote_dir",
                    "cluster_id",
                    "num_jobs",
                ],
                lambda pk, i: [
                    pk,
                    "{}",
                    "[]",
                    "[]",
                    "",
                    cluster_ids[i] if cluster_ids else 1000 + i,
                    1,
                ],
            ),
            "dask": (
                DaskJob._meta.db_table,
                ["job_ptr_id", "function", "args", "kwargs", "key", "forget"],
                lambda pk, i: [pk, "operator.add", "[]", "{}", f"key-{pk}", False],
            ),
        }
        with connection.cursor() as cursor:
            for kind, (table, columns, values) in tables.items():
                params = [
                    values(pk, i) for i, pk in enumerate(ids) if kinds[i % len(kinds)] == kind
                ]
                if not params:
                    continue
                names = ", ".join(connection.ops.quote_name(c) for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {connection.ops.quote_name(table)} ({names}) VALUES ({marks})",
                    params,
                )
    return ids
