"""Basic jobs, which the app runs itself; also Tethys Platform's module path of
:class:`~tethys_compute.models.BasicJob`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from tethys_compute.models.job import Job
from tethys_compute.status import (
    JobStatus,
)

if TYPE_CHECKING:
    pass


class BasicJob(Job):
    """A job the app runs itself and reports on (``set_status`` or the callback URL).

    Examples
    --------
    >>> job = manager.create_job("import", user, "BASIC")  # doctest: +SKIP
    >>> job.execute(); job.set_status("Running"); job.set_status("Complete")  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "basic"
    JOB_TYPE: ClassVar[str] = "BASIC"

    class Meta:
        verbose_name = "Basic job"
        verbose_name_plural = "Basic jobs"

    def pause(self) -> None:
        """Tethys Platform's meaning: the app says the job is paused (status Paused)."""
        self.update_status(status=JobStatus.PAUSED.value)

    def resume(self) -> None:
        """Tethys Platform's meaning: the app says the job runs again (status Running)."""
        self.update_status(status=JobStatus.RUNNING.value)
