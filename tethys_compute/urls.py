"""URLs of tethys-compute that a portal includes.

Add them to the portal's URLconf (the namespace is ``tethys_compute``)::

    from django.urls import include, path

    urlpatterns = [
        ...,
        path("compute/", include("tethys_compute.urls")),
    ]

``jobs/callback/<token>/`` is where jobs push their status changes (see
:mod:`tethys_compute.jobs.callbacks`); ``update-job-status/<job_id>/`` is
Tethys Platform's status URL (see :mod:`tethys_compute.jobs.status_url`).
"""

from __future__ import annotations

from django.urls import path

from tethys_compute.jobs.callbacks import job_status_callback
from tethys_compute.jobs.status_url import update_job_status

app_name = "tethys_compute"

urlpatterns = [
    path("jobs/callback/<str:token>/", job_status_callback, name="job_callback"),
    path("update-job-status/<str:job_id>/", update_job_status, name="update_job_status"),
]
