"""Which admin users may make the portal connect a ``distributed.Client``.

A ``distributed.Client`` trusts its scheduler completely: results and errors
travel pickled, so whoever controls a Dask scheduler's address can run code in
the portal process (see ``docs/security.rst``).  Only users who could have set
that address themselves (add or change permission on Dask schedulers) may make
an admin request connect one; for anyone else the admin leaves Dask jobs alone
and says why.  (The admin's "Test connection" never connects a client at all.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest

#: Permissions that let a user set a Dask scheduler's address.
DASK_ADDRESS_PERMISSIONS: tuple[str, ...] = (
    "tethys_compute.add_daskscheduler",
    "tethys_compute.change_daskscheduler",
)

REFUSAL = (
    "not done: it would connect a Dask client, which runs whatever the scheduler sends, so "
    "only users who may add or change Dask schedulers may do it from the admin. Ask one of "
    "them, or an administrator to give you that permission."
)


def may_connect_dask_client(user: Any) -> bool:
    """True when ``user`` could have set a Dask scheduler's address (add or change it)."""
    return any(user.has_perm(permission) for permission in DASK_ADDRESS_PERMISSIONS)


def without_dask_jobs_unless_trusted(request: HttpRequest, jobs: QuerySet[Any]) -> QuerySet[Any]:
    """``jobs`` without the Dask jobs if the user may not connect a Dask client (says so)."""
    if may_connect_dask_client(request.user):
        return jobs
    skipped = list(jobs.filter(daskjob__isnull=False).values_list("pk", flat=True))
    if skipped:
        listing = ", ".join(str(pk) for pk in skipped)
        messages.warning(request, f"Dask job(s) {listing}: {REFUSAL}")
    return jobs.filter(daskjob__isnull=True)
