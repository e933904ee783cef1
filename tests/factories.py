"""Fast creation of many scheduler rows for query-count tests and benchmarks.

Multi-table inheritance rules out ``bulk_create`` on the kinds, so base rows
are bulk-created and the kind rows inserted with one ``executemany``.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler


def bulk_create_schedulers(count: int, prefix: str = "sched") -> None:
    """Create ``count`` schedulers, alternating Dask and Condor, in a few queries."""
    now = timezone.now()
    width = len(str(count))
    with transaction.atomic():
        bases = Scheduler.objects.bulk_create(
            [
                Scheduler(
                    name=f"{prefix}-{i:0{width}d}",
                    host=f"localhost:{8000 + i % 1000}" if i % 2 == 0 else "submit.example.com",
                    created=now,
                    modified=now,
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        ids = [b.pk for b in bases]
        if None in ids:  # backends that do not return ids from bulk inserts
            ids = list(
                Scheduler.objects.filter(name__startswith=f"{prefix}-")
                .order_by("name")
                .values_list("pk", flat=True)
            )
        dask_rows = [(pk, None, None, "") for i, pk in enumerate(ids) if i % 2 == 0]
        condor_rows = [
            (pk, 22, "user", "", "", "/home/portal/.ssh/id_ed25519", "", "", "", "", "")
            for i, pk in enumerate(ids)
            if i % 2 == 1
        ]
        dask_table = DaskScheduler._meta.db_table
        condor_table = CondorScheduler._meta.db_table
        with connection.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {dask_table} (scheduler_ptr_id, timeout, heartbeat_interval,"
                " dashboard) VALUES (%s, %s, %s, %s)",
                dask_rows,
            )
            cur.executemany(
                f"INSERT INTO {condor_table} (scheduler_ptr_id, port, username, password,"
                " private_key, private_key_path, private_key_pass, host_key, remote_profile,"
                " condor_bin_dir, condor_config)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                condor_rows,
            )
